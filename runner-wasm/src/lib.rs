//! tug-wasm
