//! `pbxgw-feed -c CONFIG --rate R --count N [--exit-when-done]`: see `pbxgw_tests::feeder`.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    pbxgw_tests::feeder::main_with(pbxgw_tests::feeder::FeedArgs::parse())
}
