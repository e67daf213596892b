//! Both kernel back ends (libnftables worker, `nft` program) program the
//! namespace they were given, atomically, and report rejections.

use knet_proxy::apply::{Netns, Nft, NftCommand, NftLib};

use super::lab::{Lab, run};

fn check(nft: &mut dyn Nft, ns: &str) {
    let list = || run(&["ip", "netns", "exec", ns, "nft", "list", "tables"]);
    nft.apply("add table ip knet-apply-test\nadd set ip knet-apply-test s { type ipv4_addr; }\n")
        .expect("good script");
    assert!(list().contains("knet-apply-test"), "{}", list());
    // One bad command rejects the whole transaction.
    let err = nft
        .apply("add element ip knet-apply-test s { 10.0.0.1 }\nadd element ip knet-apply-test nope { 10.0.0.2 }\n")
        .expect_err("bad script");
    assert!(
        err.to_string().contains("nope") || err.to_string().contains("No such file"),
        "{err}"
    );
    let set = run(&[
        "ip",
        "netns",
        "exec",
        ns,
        "nft",
        "list",
        "set",
        "ip",
        "knet-apply-test",
        "s",
    ]);
    assert!(!set.contains("10.0.0.1"), "not atomic: {set}");
    nft.apply("delete table ip knet-apply-test\n")
        .expect("delete");
    assert!(!list().contains("knet-apply-test"));
}

#[test]
fn libnftables_and_nft_program_act_in_the_namespace() {
    let Some(lab) = Lab::new() else { return };
    let ns = Netns::named(&lab.node);
    let mut lib = NftLib::new(&ns)
        .expect("worker")
        .expect("libnftables installed");
    check(&mut lib, &lab.node);
    check(&mut NftCommand::new(ns), &lab.node);
}
