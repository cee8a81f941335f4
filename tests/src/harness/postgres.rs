use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use std::os::unix::process::CommandExt;

/// A private PostgreSQL cluster (initdb into a temp dir) on a free loopback port.
/// PostgreSQL refuses to run as root; as root the cluster runs as the `postgres` user.
pub struct Postgres {
    port: u16,
    dir: tempfile::TempDir,
    bindir: PathBuf,
    owner: Option<(u32, u32)>,
    child: Option<Child>,
}

fn pg_bindir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs.reverse();
    let initdb = super::find_binary("initdb", &dirs, "postgresql");
    // /usr/local/bin may hold symlinks to a few tools only: use the real directory.
    std::fs::canonicalize(&initdb)
        .unwrap_or(initdb)
        .parent()
        .map(Path::to_path_buf)
        .expect("initdb has a directory")
}

impl Postgres {
    pub fn start() -> Postgres {
        Postgres::start_with(&["fsync = off", "synchronous_commit = off"])
    }

    /// Starts with server settings as PostgreSQL ships them (durable commits), for benchmarks.
    pub fn start_durable() -> Postgres {
        Postgres::start_with(&[])
    }

    fn start_with(settings: &[&str]) -> Postgres {
        let bindir = pg_bindir();
        let dir = tempfile::tempdir().expect("temp dir");
        let owner = if super::is_root() {
            let user = nix::unistd::User::from_name("postgres")
                .ok()
                .flatten()
                .expect("running as root needs the `postgres` user (apt-get install postgresql)");
            let (uid, gid) = (user.uid.as_raw(), user.gid.as_raw());
            nix::unistd::chown(dir.path(), Some(user.uid), Some(user.gid)).expect("chown");
            Some((uid, gid))
        } else {
            None
        };
        let mut pg = Postgres {
            port: super::free_port(),
            dir,
            bindir,
            owner,
            child: None,
        };
        let status = pg
            .command("initdb")
            .args(["-D"])
            .arg(pg.data())
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run initdb");
        assert!(status.success(), "initdb failed");
        let extra: String = settings.iter().map(|kv| format!("{kv}\n")).collect();
        let conf = pg.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("read postgresql.conf");
        text.push_str(&format!(
            "\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n{extra}",
            pg.port,
            pg.dir.path().display()
        ));
        std::fs::write(&conf, text).expect("write postgresql.conf");
        pg.restart();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, tool: &str) -> Command {
        let mut c = Command::new(self.bindir.join(tool));
        if let Some((uid, gid)) = self.owner {
            c.uid(uid).gid(gid);
        }
        c.current_dir(self.dir.path());
        c
    }

    /// The server's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for the superuser, without TLS.
    pub fn url(&self) -> String {
        format!(
            "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    pub fn url_for(&self, user: &str) -> String {
        format!(
            "postgresql://{user}@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "postgres already running");
        let log = std::fs::File::create(self.dir.path().join("postgres.log")).expect("log file");
        if let Some((uid, gid)) = self.owner {
            let _ = nix::unistd::chown(
                &self.dir.path().join("postgres.log"),
                Some(uid.into()),
                Some(gid.into()),
            );
        }
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn postgres");
        self.child = Some(child);
        assert!(
            super::wait_for_port(self.port, Duration::from_secs(30)),
            "postgres did not listen on {}",
            self.port
        );
        // The port opens slightly before connections are accepted.
        let ready = (0..200).any(|_| {
            // A client: runs as ourselves (only the server must not be root).
            let ok = Command::new(self.bindir.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                std::thread::sleep(Duration::from_millis(50));
            }
            ok
        });
        assert!(
            ready,
            "postgres on {} never became ready; its log:\n{}",
            self.port,
            std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
        );
    }

    /// Fast shutdown: open connections are cut, as in a real database restart.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::signal_and_wait(&mut child, Signal::SIGINT, Duration::from_secs(30));
        }
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url(), tokio_postgres::NoTls)
            .await
            .expect("connect to the private postgres");
        tokio::spawn(conn);
        client
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
