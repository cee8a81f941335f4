//! `pbxgw sniff`: one PBX's raw lines with their arrival times, for a capture.

use std::path::Path;

use anyhow::Context;

use crate::config::Config;

pub(super) async fn sniff(
    config: &Config,
    name: &str,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    use crate::pbx::ctip::session::CtipSettings;
    let Some(pbx) = config.pbx.iter().find(|p| p.name() == name) else {
        let names: Vec<_> = config.pbx.iter().map(|p| p.name()).collect();
        anyhow::bail!(
            "no [[pbx]] named {name:?} in the config (there are: {})",
            names.join(", ")
        );
    };
    let Some(pbx) = pbx.as_ctip() else {
        anyhow::bail!(
            "sniff speaks CTIP; {name:?} is kind = {:?}",
            pbx.kind().as_str()
        );
    };
    let settings = CtipSettings::from_config(pbx);
    let mut out: Box<dyn std::io::Write + Send> = match output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        if crate::runtime::wait_for_signal().await.is_ok() {
            on_signal.cancel();
        }
    });
    let lines = crate::pbx::ctip::session::sniff(&settings, &mut *out, stop).await?;
    eprintln!("sniff: {lines} lines");
    Ok(())
}
