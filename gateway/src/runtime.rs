//! Wiring: opens the store, starts the writer and the sinks, and stops them in order.

use std::sync::Arc;

use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{AmiConfig, AriConfig, Config, CtipConfig, PbxConfig};
use crate::contacts::Directory;
use crate::link::LinkState;
use crate::link::Links;
use crate::pbx::{PbxControl, PbxControls};
use crate::store::{self, Appender, AsyncReader, StoreError, StoreOptions, WriterHandle};
use crate::uplink::mqtt::MqttSink;
use crate::uplink::postgres::PostgresSink;
use crate::uplink::{configured_sinks, SinkContext};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("MQTT uplink: {0}")]
    MqttTls(#[from] crate::tls::TlsError),
    #[error("PostgreSQL uplink: {0}")]
    Postgres(#[from] crate::uplink::postgres::PgError),
    #[error("board: {0}")]
    Board(String),
    #[error("webhook uplink: {0}")]
    Webhook(#[from] crate::uplink::webhook::WebhookError),
    #[error("ARI {0}: {1}")]
    Ari(String, crate::tls::TlsError),
    #[error("Finesse {0}: {1}")]
    Finesse(String, crate::tls::TlsError),
    #[error("local API: cannot listen on {0}: {1}")]
    Api(std::net::SocketAddr, std::io::Error),
}

/// A running gateway.
pub struct Gateway {
    appender: Appender,
    links: Links,
    committed: watch::Receiver<u64>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    writer: WriterHandle,
    /// Every PBX's control handle, by `[[pbx]] name`.
    pbxs: PbxControls,
    /// What a reload changes: the SMS rules, the contact sync's period.
    live: crate::commands::Live,
    commands: Arc<crate::commands::Commands>,
}

impl Gateway {
    pub async fn start(config: &Config) -> Result<Gateway, StartError> {
        let options = StoreOptions::from_config(config);
        Gateway::start_with(config, options).await
    }

    /// Starts with explicit store options (tests shorten the maintenance period).
    pub async fn start_with(
        config: &Config,
        mut options: StoreOptions,
    ) -> Result<Gateway, StartError> {
        let links = Links::new();
        let sms_wake = Arc::new(tokio::sync::Notify::new());
        let sms_rules = Arc::new(crate::sms::LiveRules::new(
            crate::sms::rules::SmsRules::new(config.sms.clone()),
        ));
        let contact_sync = config.uplink.postgres.as_ref().map(|_| {
            let every = config.contacts.central_sync_s.map(Duration::from_secs);
            Arc::new(watch::channel(every).0)
        });
        let live = crate::commands::Live {
            rules: sms_rules.clone(),
            contact_sync: contact_sync.clone(),
        };
        if options.hook.is_none() {
            options.hook = Some(Arc::new(crate::sms::SmsHook {
                rules: sms_rules.clone(),
                wake: sms_wake.clone(),
            }));
        }
        if options.sinks.is_empty() {
            options.sinks = configured_sinks(config);
        }
        let opened = {
            let options = options.clone();
            tokio::task::spawn_blocking(move || store::open(&options))
                .await
                .map_err(|_| StoreError::Closed)??
        };
        match &opened.quarantine {
            Some(q) => links.set(
                "store",
                LinkState::Up,
                Some(format!(
                    "corrupt database moved to {}",
                    q.moved_to.display()
                )),
            ),
            None => links.set("store", LinkState::Up, None),
        }
        crate::health::watch::restore_history(&links.quality, &config.gateway.data_dir);
        let reader = AsyncReader::open(&options.path)?;
        let db_path = options.path.clone();
        let (appender, writer, committed) =
            store::spawn_writer(opened, options, tokio::runtime::Handle::current())?;
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let mut pbxs = PbxControls::new();
        for pbx in &config.pbx {
            let start = PbxStart {
                links: &links,
                appender: &appender,
                enrich: crate::calls::pipeline::Enrichment {
                    directory: open_directory(&db_path, config),
                    recordings: pbx.recording_links(),
                },
                shutdown: &shutdown,
                tasks: &tasks,
            };
            let control = match pbx {
                PbxConfig::Ctip(c) => PbxControl::Ctip(start_ctip(c, start)),
                PbxConfig::Ami(c) => PbxControl::Ami(start_ami(c, start)),
                PbxConfig::Ari(c) => PbxControl::Ari(Box::new(start_ari(c, start)?)),
            };
            pbxs.insert(pbx.name().to_owned(), control);
        }
        let has_sms_route = config.modem.is_some()
            || config
                .pbx
                .iter()
                .any(|p| p.as_ctip().is_some_and(|c| c.gsm_module.is_some()));
        let commands = crate::commands::Commands::new(
            config.commands.clone(),
            db_path.clone(),
            has_sms_route.then(|| crate::commands::SmsTarget {
                db_path: db_path.clone(),
                config: config.sms.clone(),
                wake: sms_wake.clone(),
            }),
            Some(crate::commands::ContactsTarget {
                db_path: db_path.clone(),
                plan: config.sms.plan(),
            }),
            pbxs.clone(),
            crate::commands::Reach {
                plan: config.sms.plan(),
                policy: config.number_policy(),
            },
        );
        let commands = Arc::new(match &config.source {
            Some(path) => commands.with_reload(crate::commands::ReloadTarget {
                path: path.clone(),
                live: live.clone(),
            }),
            None => commands,
        });
        let ctx = SinkContext {
            gateway_id: config.gateway.id.clone(),
            reader,
            appender: appender.clone(),
            committed: committed.clone(),
            links: links.clone(),
            sinks: configured_sinks(config),
            shutdown: shutdown.clone(),
            commands: Some(commands.clone()),
        };
        if let Some(api) = &config.api {
            let listener = crate::api::bind(api)
                .await
                .map_err(|e| StartError::Api(api.bind, e))?;
            tasks.spawn(crate::api::serve(
                listener,
                api.clone(),
                ctx.clone(),
                db_path.clone(),
                config.sms.plan(),
            ));
        }
        if let Some(mqtt) = &config.uplink.mqtt {
            let sink = MqttSink::new(mqtt.clone(), ctx.clone())?;
            tasks.spawn(sink.run());
        }
        if let Some(pg) = &config.uplink.postgres {
            let sink = PostgresSink::new(pg.clone(), ctx.clone())?;
            tasks.spawn(sink.run());
        }
        if let (Some(sync), Some(pg)) = (&contact_sync, &config.uplink.postgres) {
            // Runs idle without a period: a reload may set one.
            let sync = crate::contacts::central::CentralSync {
                config: pg.clone(),
                gateway_id: config.gateway.id.clone(),
                db_path: db_path.clone(),
                plan: config.sms.plan(),
                every: sync.subscribe(),
            };
            tasks.spawn(sync.run(shutdown.clone()));
        }
        if let Some(hook) = &config.uplink.webhook {
            let sink = crate::uplink::webhook::WebhookSink::new(hook.clone(), ctx.clone())?;
            tasks.spawn(sink.run());
        }
        start_panel(config, &links, &appender, &db_path, &shutdown, &tasks)?;
        tasks.spawn(crate::health::watch::keep_history(
            links.quality.clone(),
            config.gateway.data_dir.clone(),
            shutdown.clone(),
        ));
        for finesse in &config.finesse {
            start_finesse(finesse, &links, &appender, &shutdown, &tasks)?;
        }
        if !config.monitor.is_empty() {
            tasks.spawn(crate::health::watch::watch(
                config.monitor.clone(),
                links.quality.clone(),
                shutdown.clone(),
            ));
        }
        start_sms_route(
            config,
            SmsParts {
                db_path,
                appender: appender.clone(),
                links: links.clone(),
                wake: sms_wake,
                shutdown: shutdown.clone(),
            },
            &tasks,
        );
        Ok(Gateway {
            appender,
            links,
            committed,
            shutdown,
            tasks,
            writer,
            pbxs,
            live,
            commands,
        })
    }

    /// Puts the SMS rules, the number policy and the contact sync period of `config`
    /// (already loaded and validated) in force for the next events and commands; how many SMS
    /// rules there are now. Everything else takes a restart.
    pub fn reload(&self, config: &Config) -> usize {
        self.commands.apply(config, &self.live)
    }

    /// Where producers hand events to the store.
    pub fn appender(&self) -> Appender {
        self.appender.clone()
    }

    /// Resolves when the store's writer stopped on its own (a damaged database), with why.
    pub(crate) fn store_failed(
        &self,
    ) -> impl std::future::Future<Output = String> + Send + 'static {
        self.writer.failed()
    }

    pub fn links(&self) -> Links {
        self.links.clone()
    }

    /// The last committed seq.
    pub fn committed(&self) -> watch::Receiver<u64> {
        self.committed.clone()
    }

    /// Commands (click-to-call, hang up, reject, status) for a CTIP PBX.
    pub fn ctip_control(&self, pbx: &str) -> Option<crate::pbx::ctip::control::CtipControl> {
        match self.pbxs.get(pbx)? {
            PbxControl::Ctip(c) => Some(c.clone()),
            _ => None,
        }
    }

    /// Call control of an AMI PBX by its configured name.
    pub fn ami_control(&self, pbx: &str) -> Option<crate::pbx::ami::control::AmiControl> {
        match self.pbxs.get(pbx)? {
            PbxControl::Ami(c) => Some(c.clone()),
            _ => None,
        }
    }

    /// Stops the sinks, commits whatever producers already handed over, checkpoints.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.close();
        if tokio::time::timeout(Duration::from_secs(10), self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("sinks did not stop within 10 s");
        }
        let _ = self.appender.flush().await;
        drop(self.appender);
        let writer = self.writer;
        let joined = tokio::task::spawn_blocking(move || writer.join());
        if tokio::time::timeout(Duration::from_secs(10), joined)
            .await
            .is_err()
        {
            tracing::warn!("store writer did not stop within 10 s");
        }
    }
}

/// The contact directory for one correlation pipeline; without it calls are not named.
fn open_directory(db_path: &std::path::Path, config: &Config) -> Option<Directory> {
    Directory::open(db_path, config.sms.plan())
        .inspect_err(
            |e| tracing::warn!(error = %e, "contact directory unavailable: calls are not named"),
        )
        .ok()
}

/// What starting any PBX needs from the runtime.
struct PbxStart<'a> {
    links: &'a Links,
    appender: &'a Appender,
    /// The contact directory and recording links, for the PBX's call events.
    enrich: crate::calls::pipeline::Enrichment,
    shutdown: &'a CancellationToken,
    tasks: &'a TaskTracker,
}

impl PbxStart<'_> {
    /// Runs a PBX's connector `session` and its `correlator`, joined by `events`; a task of
    /// either that dies on a bug takes the link down with it.
    fn run<C: crate::calls::pipeline::Correlator>(
        self,
        name: &str,
        session: impl std::future::Future<Output = ()> + Send + 'static,
        correlator: C,
        events: tokio::sync::mpsc::Receiver<crate::pbx::PbxEvent<C::Message>>,
    ) {
        let link = format!("pbx:{name}");
        spawn_watched(self.tasks, self.links, &link, session);
        let pipeline = crate::calls::pipeline::run(
            correlator,
            events,
            self.appender.clone(),
            self.enrich,
            self.shutdown.clone(),
        );
        spawn_watched(self.tasks, self.links, &link, pipeline);
    }
}

/// A Cisco Finesse team's poller.
fn start_finesse(
    config: &crate::pbx::finesse::FinesseConfig,
    links: &Links,
    appender: &Appender,
    shutdown: &CancellationToken,
    tasks: &TaskTracker,
) -> Result<(), StartError> {
    let tls = crate::tls::client_config_or_plain(config.ca_file.as_deref())
        .map_err(|e| StartError::Finesse(config.name.clone(), e))?;
    if config.url.starts_with("http://") {
        tracing::warn!(finesse = %config.name, "the Finesse password crosses the LAN in clear: use https://");
    }
    let client = crate::pbx::finesse::FinesseClient::new(config, tls, Duration::from_secs(10));
    let (tx, rx) = tokio::sync::mpsc::channel(PBX_EVENTS);
    let poller =
        crate::pbx::finesse::run(config.clone(), client, links.clone(), tx, shutdown.clone());
    let correlator = crate::calls::finesse::FinesseCorrelator::new(&config.name);
    let pipeline = crate::calls::pipeline::run(
        correlator,
        rx,
        appender.clone(),
        crate::calls::pipeline::Enrichment::default(),
        shutdown.clone(),
    );
    let link = format!("finesse:{}", config.name);
    spawn_watched(tasks, links, &link, poller);
    spawn_watched(tasks, links, &link, pipeline);
    Ok(())
}

/// How many connector events may wait for the correlator.
const PBX_EVENTS: usize = 1024;

/// A CTIP connector and its correlator.
fn start_ctip(pbx: &CtipConfig, start: PbxStart<'_>) -> crate::pbx::ctip::control::CtipControl {
    use crate::calls::ctip::{CtipCorrelator, CtipCorrelatorConfig};
    use crate::pbx::ctip::session::{CtipSession, CtipSettings};
    let (tx, rx) = tokio::sync::mpsc::channel(PBX_EVENTS);
    let (control, commands) = crate::pbx::ctip::control::CtipControl::channel();
    let mut correlation = CtipCorrelatorConfig::new(&pbx.name);
    correlation.currency = pbx.currency.clone();
    correlation.ivr_map = pbx
        .ivr_map
        .iter()
        .map(|(ext, digit)| (ext.trim_end_matches('_').to_owned(), digit.clone()))
        .collect();
    let session = CtipSession {
        settings: CtipSettings::from_config(pbx),
        links: start.links.clone(),
        events: tx,
        commands,
        shutdown: start.shutdown.clone(),
    };
    start.run(
        &pbx.name,
        session.run(),
        CtipCorrelator::new(correlation),
        rx,
    );
    control
}

/// Spawns a task of `link`; if it dies on a bug (a panic: only in builds that unwind; the
/// firmware aborts and systemd restarts it), the link goes down with the reason instead of
/// being shown up while nothing listens.
fn spawn_watched<F>(tasks: &TaskTracker, links: &Links, link: &str, task: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let handle = tokio::spawn(task);
    let (links, link) = (links.clone(), link.to_owned());
    tasks.spawn(async move {
        if let Err(e) = handle.await {
            if e.is_panic() {
                tracing::error!(link, "a task of the link stopped on an internal error");
                links.count(&format!("{link}:task_failures"));
                links.set(
                    &link,
                    crate::link::LinkState::Down,
                    Some("stopped on an internal error; restart pbxgw and report the log".into()),
                );
            }
        }
    });
}

/// The front panel (LEDs from the board profile) and the watchdogs.
fn start_panel(
    config: &Config,
    links: &Links,
    appender: &Appender,
    db_path: &std::path::Path,
    shutdown: &CancellationToken,
    tasks: &TaskTracker,
) -> Result<(), StartError> {
    let profile = board::profile::Profile::load(&config.board.profile)
        .map_err(|e| StartError::Board(e.to_string()))?;
    let (leds, errors) = profile.open_leds(&config.board.leds_root);
    for e in errors {
        tracing::warn!(error = %e, profile = %profile.name, "LED not available");
    }
    let systemd =
        board::watchdog::SystemdNotify::from_env().map_err(|e| StartError::Board(e.to_string()))?;
    let device = match &config.board.watchdog_device {
        Some(path) => Some(
            board::watchdog::DeviceWatchdog::open(path)
                .map_err(|e| StartError::Board(e.to_string()))?,
        ),
        None => None,
    };
    tasks.spawn(
        crate::health::panel::Panel {
            leds,
            watchdogs: board::watchdog::Watchdogs { systemd, device },
            links: links.clone(),
            appender: appender.clone(),
            reader: AsyncReader::open(db_path)?,
            data_dir: config.gateway.data_dir.clone(),
            shutdown: shutdown.clone(),
        }
        .run(),
    );
    Ok(())
}

/// What an SMS route's worker shares with the rest of the gateway.
struct SmsParts {
    db_path: std::path::PathBuf,
    appender: Appender,
    links: Links,
    wake: Arc<tokio::sync::Notify>,
    shutdown: CancellationToken,
}

/// The SMS route: the box's modem when there is one, else the first CTIP PBX with a GSM
/// module (its own `LOGI` session), else none (texts wait in the queue).
/// The board's modem power line; a profile that names one it cannot open is logged and the
/// recovery ladder stops one step short.
fn modem_power(config: &Config) -> Option<board::power::PowerLine> {
    let profile = board::profile::Profile::load(&config.board.profile).ok()?;
    profile
        .open_modem_power(&config.board.leds_root)
        .inspect_err(|e| tracing::warn!(error = %e, "modem power line not available"))
        .ok()
        .flatten()
}

fn start_sms_route(config: &Config, parts: SmsParts, tasks: &TaskTracker) {
    if let Some(modem) = &config.modem {
        tasks.spawn(
            crate::sms::worker::SmsWorker {
                modem: modem.clone(),
                sms: config.sms.clone(),
                db_path: parts.db_path,
                appender: parts.appender,
                links: parts.links,
                wake: parts.wake,
                shutdown: parts.shutdown,
                power: modem_power(config),
            }
            .run(),
        );
        return;
    }
    let gsm = config
        .pbx
        .iter()
        .filter_map(PbxConfig::as_ctip)
        .find_map(|p| Some((p, p.gsm_module.clone()?)));
    let Some((pbx, module)) = gsm else {
        return;
    };
    let (route, requests) = crate::pbx::ctip::gsm::GsmRoute::channel();
    let (events_tx, events) = tokio::sync::mpsc::channel(64);
    tasks.spawn(
        crate::pbx::ctip::gsm::GsmSession {
            link: crate::pbx::ctip::session::CtipSettings::from_config(pbx),
            module,
            sim_pin: pbx
                .gsm_pin
                .clone()
                .unwrap_or_else(|| crate::config::Secret::new("")),
            links: parts.links,
            requests,
            events: events_tx,
            shutdown: parts.shutdown.clone(),
        }
        .run(),
    );
    tasks.spawn(
        crate::sms::pbx_route::PbxGsmWorker {
            route,
            events,
            sms: config.sms.clone(),
            db_path: parts.db_path,
            appender: parts.appender,
            wake: parts.wake,
            shutdown: parts.shutdown,
        }
        .run(),
    );
}

/// An AMI connector and its correlator.
fn start_ami(pbx: &AmiConfig, start: PbxStart<'_>) -> crate::pbx::ami::control::AmiControl {
    use crate::calls::ami::{AmiCorrelator, AmiCorrelatorConfig};
    use crate::pbx::ami::session::{AmiSession, AmiSettings};
    let (tx, rx) = tokio::sync::mpsc::channel(PBX_EVENTS);
    let settings = AmiSettings::from_config(pbx);
    let (control, requests) = crate::pbx::ami::control::AmiControl::channel(settings.answer_within);
    let mut correlation = AmiCorrelatorConfig::new(&pbx.name);
    if let Some(contexts) = &pbx.inbound_contexts {
        correlation.inbound_contexts = contexts.clone();
    }
    correlation.trunk_prefixes = pbx.trunks.clone();
    let session = AmiSession {
        settings,
        links: start.links.clone(),
        events: tx,
        control: requests,
        shutdown: start.shutdown.clone(),
    };
    start.run(
        &pbx.name,
        session.run(),
        AmiCorrelator::new(correlation),
        rx,
    );
    control
}

/// An ARI connector (WebSocket events, REST control), its correlator, and the built-in IVR
/// when one is configured.
fn start_ari(
    pbx: &AriConfig,
    start: PbxStart<'_>,
) -> Result<crate::pbx::ari::AriControl, StartError> {
    use crate::calls::ari::{AriCorrelator, AriCorrelatorConfig};
    use crate::pbx::ari::session::{AriSession, AriSettings};
    let settings = AriSettings::from_config(pbx);
    let tls = crate::tls::client_config_or_plain(pbx.ca_file.as_deref())
        .map_err(|e| StartError::Ari(pbx.name.clone(), e))?;
    let password = pbx
        .password
        .clone()
        .unwrap_or_else(|| crate::config::Secret::new(""));
    let rest = crate::pbx::ari::rest::AriRest::new(
        &settings.url,
        pbx.username.as_deref().unwrap_or_default(),
        &password,
        tls.clone(),
        Duration::from_secs(10),
    );
    let mut correlation = AriCorrelatorConfig::new(&pbx.name);
    if let Some(contexts) = &pbx.inbound_contexts {
        correlation.inbound_contexts = contexts.clone();
    }
    correlation.subscribe_all = settings.subscribe_all;
    let ivr = pbx.ivr.as_ref().map(|ivr| {
        if !settings.subscribe_all {
            tracing::warn!(pbx = %pbx.name, "built-in IVR without subscribe_all: a call's record ends when it leaves the IVR for the dialplan");
        }
        crate::pbx::ari::ivr::Ivr::start(
            &pbx.name,
            ivr.clone(),
            rest.clone(),
            start.links.clone(),
            start.shutdown.clone(),
        )
    });
    let (tx, rx) = tokio::sync::mpsc::channel(PBX_EVENTS);
    let session = AriSession {
        settings,
        rest: rest.clone(),
        tls,
        links: start.links.clone(),
        events: tx,
        ivr,
        shutdown: start.shutdown.clone(),
    };
    start.run(
        &pbx.name,
        session.run(),
        AriCorrelator::new(correlation),
        rx,
    );
    Ok(crate::pbx::ari::AriControl {
        rest,
        originate: crate::pbx::asterisk::OriginateSettings::new(
            &pbx.originate_channel,
            &pbx.originate_context,
        ),
    })
}

/// Why `pbxgw run` ended other than by a signal.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot listen for SIGTERM/SIGINT: {0}")]
    Signals(std::io::Error),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("the store failed ({0}); restart pbxgw to move the damaged database aside")]
    StoreFailed(String),
}

/// `pbxgw run`: start, wait for SIGTERM/SIGINT, stop cleanly. A second signal exits at once.
pub async fn run(config: Config, path: std::path::PathBuf) -> Result<(), RunError> {
    // Listen before starting anything: a SIGTERM during start-up must stop us cleanly, not
    // kill the process with the default action.
    let mut signals = StopSignals::listen().map_err(RunError::Signals)?;
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(RunError::Signals)?;
    let gateway = Gateway::start(&config).await?;
    tracing::info!(gateway = %config.gateway.id, "pbxgw running");
    let store_failed = gateway.store_failed();
    tokio::pin!(store_failed);
    let failure = loop {
        tokio::select! {
            _ = signals.next() => break None,
            reason = &mut store_failed => break Some(reason),
            _ = hangups.recv() => reload(&gateway, &path),
        }
    };
    if let Some(reason) = failure {
        // The start-up check moves a damaged database aside: stop, and let the service
        // manager start us again.
        tracing::error!(%reason, "the store failed; stopping so that the restart recovers it");
        gateway.stop().await;
        return Err(RunError::StoreFailed(reason.to_string()));
    }
    tracing::info!("shutting down; send the signal again to exit at once");
    tokio::spawn(async move {
        signals.next().await;
        tracing::warn!("second signal: exiting without waiting");
        std::process::exit(130);
    });
    gateway.stop().await;
    tracing::info!("stopped");
    Ok(())
}

/// SIGHUP: the file is read and checked again; valid, its SMS rules are in force from the
/// next event; invalid, the running rules stay and the log says why.
fn reload(gateway: &Gateway, path: &std::path::Path) {
    match Config::load(path) {
        Ok(config) => {
            let rules = gateway.reload(&config);
            tracing::info!(
                "configuration reloaded: {rules} SMS rules, the number policy and the contact sync period in force; other changes take a restart"
            );
        }
        Err(e) => tracing::error!(error = %e, "configuration not reloaded; the running rules stay"),
    }
}

/// SIGTERM and SIGINT, registered once for the whole run.
pub(crate) struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    pub(crate) fn listen() -> std::io::Result<StopSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(StopSignals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    pub(crate) async fn next(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

pub(crate) async fn wait_for_signal() -> std::io::Result<()> {
    StopSignals::listen()?.next().await;
    Ok(())
}
