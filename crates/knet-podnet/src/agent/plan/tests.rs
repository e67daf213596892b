use super::*;

fn node(n: u8, mac: Option<&str>) -> NodeInfo {
    NodeInfo {
        name: format!("n{n}"),
        pod_cidr: format!("10.244.{n}.0/24").parse().unwrap(),
        node_ip: Ipv4Addr::new(192, 168, 50, n + 1),
        vtep_mac: mac.map(|m| m.parse().unwrap()),
    }
}

fn link(index: u32, name: &str, kind: &str, mac: &str, mtu: u32, up: bool) -> Link {
    Link {
        index,
        name: name.into(),
        kind: Some(kind.into()),
        mtu,
        mac: Some(mac.parse().unwrap()),
        up,
        master: None,
    }
}

const M0: &str = "0e:00:00:00:00:00";
const M1: &str = "0e:00:00:00:00:01";
const M2: &str = "0e:00:00:00:00:02";

fn desired(backend: Backend) -> Desired {
    Desired {
        backend,
        cluster_cidr: "10.244.0.0/16".parse().unwrap(),
        this: node(0, Some(M0)),
        peers: vec![node(1, Some(M1)), node(2, Some(M2))],
        vtep: VxlanSpec {
            name: "flannel.1".into(),
            vni: 1,
            port: 8472,
            local: Ipv4Addr::new(192, 168, 50, 1),
            dev: 2,
            mtu: 1450,
            mac: M0.parse().unwrap(),
            learning: false,
        },
    }
}

fn observed() -> Observed {
    Observed {
        underlay: Some(link(2, "eth0", "veth", "02:00:00:00:00:01", 1500, true)),
        ..Default::default()
    }
}

fn route(dst: &str, gw: &str, oif: u32, onlink: bool) -> Route4 {
    Route4 {
        dst: dst.parse().unwrap(),
        gateway: Some(gw.parse().unwrap()),
        oif: Some(oif),
        onlink,
    }
}

#[test]
fn host_gw_routes_per_peer_then_nothing() {
    let d = desired(Backend::HostGw);
    let p = plan(&d, &observed());
    assert_eq!(
        p.steps,
        vec![
            Step::ReplaceRoute(route("10.244.1.0/24", "192.168.50.2", 2, false)),
            Step::ReplaceRoute(route("10.244.2.0/24", "192.168.50.3", 2, false)),
        ]
    );
    let mut o = observed();
    o.routes = vec![
        route("10.244.1.0/24", "192.168.50.2", 2, false),
        route("10.244.2.0/24", "192.168.50.3", 2, false),
    ];
    assert!(plan(&d, &o).is_empty());
}

#[test]
fn host_gw_removes_deleted_node_and_keeps_foreign_routes() {
    let mut d = desired(Backend::HostGw);
    d.peers.truncate(1);
    let mut o = observed();
    o.routes = vec![
        route("10.244.1.0/24", "192.168.50.2", 2, false),
        route("10.244.2.0/24", "192.168.50.3", 2, false),
        route("10.99.0.0/16", "192.168.50.9", 2, false), // not in the cluster CIDR
        Route4 {
            dst: "10.244.0.0/24".parse().unwrap(),
            gateway: None,
            oif: Some(5),
            onlink: false,
        },
    ];
    assert_eq!(
        plan(&d, &o).steps,
        vec![Step::DeleteRoute(route(
            "10.244.2.0/24",
            "192.168.50.3",
            2,
            false
        ))]
    );
}

#[test]
fn vxlan_creates_device_first() {
    let d = desired(Backend::Vxlan);
    assert_eq!(
        plan(&d, &observed()).steps,
        vec![Step::CreateVtep(d.vtep.clone())]
    );
}

#[test]
fn vxlan_neigh_fdb_route_in_order() {
    let d = desired(Backend::Vxlan);
    let mut o = observed();
    o.vtep = Some(link(7, "flannel.1", "vxlan", M0, 1450, false));
    let p = plan(&d, &o);
    let mac1: Mac = M1.parse().unwrap();
    assert_eq!(
        p.steps[0],
        Step::AddAddress(7, "10.244.0.0/32".parse().unwrap())
    );
    assert_eq!(p.steps[1], Step::SetUp(7));
    assert_eq!(
        p.steps[2],
        Step::ReplaceNeighbour(7, Ipv4Addr::new(10, 244, 1, 0), mac1)
    );
    assert_eq!(
        p.steps[3],
        Step::ReplaceFdb(7, mac1, Ipv4Addr::new(192, 168, 50, 2))
    );
    assert_eq!(
        p.steps[4],
        Step::ReplaceRoute(route("10.244.1.0/24", "10.244.1.0", 7, true))
    );
    assert_eq!(p.steps.len(), 2 + 6);
}

#[test]
fn vxlan_repairs_a_failed_neighbour_and_drops_stale_entries() {
    let d = Desired {
        peers: vec![node(1, Some(M1))],
        ..desired(Backend::Vxlan)
    };
    let mac1: Mac = M1.parse().unwrap();
    let mac2: Mac = M2.parse().unwrap();
    let mut o = observed();
    o.vtep = Some(link(7, "flannel.1", "vxlan", M0, 1450, true));
    o.vtep_addrs = vec!["10.244.0.0/32".parse().unwrap()];
    o.neighbours = vec![
        Neighbour {
            index: 7,
            ip: Ipv4Addr::new(10, 244, 1, 0),
            mac: None,
            permanent: false,
        },
        Neighbour {
            index: 7,
            ip: Ipv4Addr::new(10, 244, 2, 0),
            mac: Some(mac2),
            permanent: true,
        },
    ];
    o.fdb = vec![
        FdbEntry {
            index: 7,
            mac: mac1,
            dst: Some(Ipv4Addr::new(192, 168, 50, 2)),
        },
        FdbEntry {
            index: 7,
            mac: mac2,
            dst: Some(Ipv4Addr::new(192, 168, 50, 3)),
        },
    ];
    o.routes = vec![
        route("10.244.1.0/24", "10.244.1.0", 7, true),
        route("10.244.2.0/24", "10.244.2.0", 7, true),
    ];
    assert_eq!(
        plan(&d, &o).steps,
        vec![
            Step::ReplaceNeighbour(7, Ipv4Addr::new(10, 244, 1, 0), mac1),
            Step::DeleteRoute(route("10.244.2.0/24", "10.244.2.0", 7, true)),
            Step::DeleteNeighbour(7, Ipv4Addr::new(10, 244, 2, 0)),
            Step::DeleteFdb(7, mac2, Some(Ipv4Addr::new(192, 168, 50, 3))),
        ]
    );
}

#[test]
fn switching_to_host_gw_removes_the_vtep_and_overlay_routes_go_with_it() {
    let d = desired(Backend::HostGw);
    let mut o = observed();
    o.vtep = Some(link(7, "flannel.1", "vxlan", M0, 1450, true));
    let p = plan(&d, &o);
    assert_eq!(p.steps[0], Step::DeleteVtep(7));
}

#[test]
fn wrong_mac_recreates_vtep_and_peer_without_mac_is_skipped() {
    let mut d = desired(Backend::Vxlan);
    d.peers = vec![node(1, None)];
    let mut o = observed();
    o.vtep = Some(link(7, "flannel.1", "vxlan", M2, 1450, true));
    assert_eq!(
        plan(&d, &o).steps,
        vec![Step::DeleteVtep(7), Step::CreateVtep(d.vtep.clone())]
    );
    o.vtep = Some(link(7, "flannel.1", "vxlan", M0, 1450, true));
    o.vtep_addrs = vec!["10.244.0.0/32".parse().unwrap()];
    assert!(plan(&d, &o).is_empty());
}

#[test]
fn no_underlay_means_no_plan() {
    let d = desired(Backend::HostGw);
    assert!(plan(&d, &Observed::default()).is_empty());
}
