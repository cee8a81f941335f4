//! Connectors: each keeps one session to its PBX and turns bytes into typed messages with the
//! raw line beside them. Correlation into calls happens in `calls`.

pub mod ctip;
