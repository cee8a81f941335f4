use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use std::os::unix::process::CommandExt;

use super::Postgres;

/// A private PgBouncer in transaction pooling mode on a free loopback port, in front of a
/// private [`Postgres`]: each transaction of a client may run on another server connection,
/// and clients share server connections, as behind a fleet's pooler.
pub struct PgBouncer {
    port: u16,
    dir: tempfile::TempDir,
    owner: Option<(u32, u32)>,
    child: Option<Child>,
}

impl PgBouncer {
    /// `pool_size` server connections per database for all clients together.
    pub fn start(pg: &Postgres, pool_size: u32) -> PgBouncer {
        let dir = tempfile::tempdir().expect("temp dir");
        // PgBouncer refuses to run as root: as root it runs as the `postgres` user.
        let owner = super::is_root().then(|| {
            let user = nix::unistd::User::from_name("postgres")
                .ok()
                .flatten()
                .expect("running as root needs the `postgres` user (apt-get install postgresql)");
            nix::unistd::chown(dir.path(), Some(user.uid), Some(user.gid)).expect("chown");
            (user.uid.as_raw(), user.gid.as_raw())
        });
        let b = PgBouncer {
            port: super::free_port(),
            dir,
            owner,
            child: None,
        };
        let ini = format!(
            "[databases]\npostgres = host=127.0.0.1 port={pg_port} dbname=postgres user=postgres\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = any\npool_mode = transaction\ndefault_pool_size = {pool_size}\n\
             max_client_conn = 2000\nlogfile = {dir}/pgbouncer.log\n\
             ignore_startup_parameters = extra_float_digits\nserver_reset_query =\n",
            pg_port = pg.port(),
            port = b.port,
            dir = b.dir.path().display(),
        );
        std::fs::write(b.ini(), ini).expect("write pgbouncer.ini");
        let mut b = b;
        b.restart();
        b
    }

    fn ini(&self) -> PathBuf {
        self.dir.path().join("pgbouncer.ini")
    }

    /// The server's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for the superuser through the pooler, without TLS.
    pub fn url(&self) -> String {
        format!(
            "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "pgbouncer already running");
        let bin = super::find_binary("pgbouncer", &[], "pgbouncer");
        let mut command = Command::new(bin);
        if let Some((uid, gid)) = self.owner {
            command.uid(uid).gid(gid);
        }
        let child = command
            .arg(self.ini())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn pgbouncer");
        self.child = Some(child);
        assert!(
            super::wait_for_port(self.port, Duration::from_secs(20)),
            "pgbouncer did not listen on {}; its log:\n{}",
            self.port,
            self.log()
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::signal_and_wait(&mut child, Signal::SIGINT, Duration::from_secs(10));
        }
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        self.stop();
    }
}
