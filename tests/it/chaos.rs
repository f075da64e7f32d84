//! The chaos run in the suite: one round with a fixed seed (see `tests/common/chaos/`): a
//! 3-node JetStream cluster, a bare remote, a build with two workers and two `iteratr worker`
//! processes in other clones, 24 tasks in six dependency chains, and a seeded driver killing
//! workers, the build and nats nodes (the stream's leader among them), freezing workers past
//! their claims' expiry and taking the remote away; then the history checker proves every
//! invariant. `./chaos.sh --seed N --duration 30m` runs the same driver and checker for longer.

use crate::common::chaos;

#[test]
fn a_seeded_chaos_run_keeps_every_invariant() {
    let cfg = chaos::Config::from_env(35);
    let rounds = chaos::run(&cfg);
    assert!(!rounds.is_empty());
    // Every kind of fault was injected (a run that injects nothing proves nothing).
    for fault in chaos::faults::ALL {
        let n: usize = rounds.iter().filter_map(|r| r.faults.get(&fault)).sum();
        assert!(n > 0, "no {fault:?} was injected: {rounds:?}");
    }
}
