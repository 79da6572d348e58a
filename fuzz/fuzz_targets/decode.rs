//! The decoder, the folds and the attack filter on arbitrary query values.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use rampart::attack_filter::AttackFilter;

static FILTER: LazyLock<AttackFilter> = LazyLock::new(AttackFilter::new);

fuzz_target!(|data: &[u8]| {
    rampart::fuzzing::decode_and_inspect(&FILTER, data);
});
