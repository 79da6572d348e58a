//! Body inspection (JSON, form, multipart, XML, text) and the JSON and upload validators.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use rampart::attack_filter::AttackFilter;

static FILTER: LazyLock<AttackFilter> = LazyLock::new(AttackFilter::new);
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
});

fuzz_target!(|data: &[u8]| {
    RUNTIME.block_on(rampart::fuzzing::inspect_body(&FILTER, data));
});
