use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn parses_and_canonicalises() {
    let c = Cidr::parse("10.96.0.5/12").unwrap();
    assert_eq!(c.to_string(), "10.96.0.0/12");
    assert_eq!(c.size(), 1 << 20);
    assert_eq!(c.last(), ip("10.111.255.255"));
    assert!(c.contains(ip("10.111.1.1")));
    assert!(!c.contains(ip("10.112.0.0")));
    assert!(!c.contains(ip("::1")));
    let v6 = Cidr::parse("fd00:10:96::/112").unwrap();
    assert!(!v6.is_ipv4());
    assert_eq!(v6.size(), 65536);
    assert_eq!(v6.addr_at(10), Some(ip("fd00:10:96::a")));
    assert_eq!(v6.offset_of(ip("fd00:10:96::ff")), Some(255));
    for bad in [
        "10.0.0.0",
        "10.0.0.0/33",
        "10.0.0/8",
        "x/8",
        "10.0.0.0/-1",
        "10.0.0.0/",
        "::/129",
    ] {
        assert_eq!(Cidr::parse(bad), Err(CidrError::Parse(bad.into())), "{bad}");
    }
    assert_eq!(
        CidrError::Parse("x".into()).to_string(),
        "invalid CIDR address: x"
    );
    let back: Cidr = serde_json::from_str("\"10.244.0.0/16\"").unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), "\"10.244.0.0/16\"");
}

#[test]
fn offsets_and_subnets() {
    let c: Cidr = "10.244.0.0/16".parse().unwrap();
    assert_eq!(c.addr_at(258), Some(ip("10.244.1.2")));
    assert_eq!(c.addr_at(65536), None);
    assert_eq!(c.offset_of(ip("10.244.1.2")), Some(258));
    assert_eq!(c.subnet(24, 3).unwrap().to_string(), "10.244.3.0/24");
    assert_eq!(c.subnet(24, 256), None);
    assert_eq!(c.subnet(8, 0), None);
    assert!(c.contains_cidr(&"10.244.7.0/24".parse().unwrap()));
    assert!(c.overlaps(&"10.0.0.0/8".parse().unwrap()));
    assert!(!c.overlaps(&"10.96.0.0/12".parse().unwrap()));
}

#[test]
fn bitmap_allocates_wraps_and_counts() {
    let mut b = Bitmap::new(130);
    assert_eq!(b.allocate_in(0, 130, 128), Some(128));
    assert_eq!(b.allocate_in(0, 130, 128), Some(129));
    assert_eq!(
        b.allocate_in(0, 130, 128),
        Some(0),
        "wraps to the band start"
    );
    assert!(b.set(64));
    assert!(!b.set(64));
    assert!(!b.set(130));
    assert_eq!(b.used(), 4);
    assert_eq!(b.free(), 126);
    assert!(b.clear(64));
    assert!(!b.clear(64));
    for i in 0..64 {
        b.set(i);
    }
    assert_eq!(b.allocate_in(0, 130, 0), Some(64), "skips a full word");
    assert_eq!(b.allocate_in(10, 20, 15), None, "band full");
    assert_eq!(b.iter_used().take(3).collect::<Vec<_>>(), vec![0, 1, 2]);
    let mut r = Bitmap::new(10);
    assert_eq!(r.allocate_random(13), Some(3));
    assert_eq!(r.allocate_random(3), Some(4), "taken start scans forward");
    assert_eq!(Bitmap::new(0).allocate_random(1), None);
    let mut full = Bitmap::new(2);
    full.allocate_in(0, 2, 0);
    full.allocate_in(0, 2, 0);
    assert_eq!(full.allocate_in(0, 2, 0), None);
}

#[test]
fn ip_range_skips_network_and_broadcast() {
    let mut r = IpRange::new("10.96.0.0/29".parse().unwrap()).unwrap();
    assert_eq!(r.size(), 6);
    assert!(!r.in_range(ip("10.96.0.0")));
    assert!(!r.in_range(ip("10.96.0.7")));
    assert_eq!(r.allocate_next(), Some(ip("10.96.0.1")));
    r.allocate(ip("10.96.0.3")).unwrap();
    assert_eq!(
        r.allocate(ip("10.96.0.3")),
        Err(CidrError::Allocated("10.96.0.3".into()))
    );
    assert!(matches!(
        r.allocate(ip("10.96.0.7")),
        Err(CidrError::OutOfRange { .. })
    ));
    assert_eq!(r.allocate_next(), Some(ip("10.96.0.2")));
    assert_eq!(r.allocate_next(), Some(ip("10.96.0.4")));
    assert!(r.release(ip("10.96.0.3")));
    assert!(!r.has(ip("10.96.0.3")));
    assert_eq!(r.used(), 3);
    assert_eq!(r.free(), 3);
    let v6 = IpRange::new("fd00::/64".parse().unwrap()).unwrap();
    assert_eq!(v6.size() as u128, MAX_IPV6_RANGE);
    assert!(IpRange::new("10.0.0.0/31".parse().unwrap()).is_err());
}

#[test]
fn node_blocks_round_robin() {
    let mut s = SubnetAllocator::new("10.244.0.0/16".parse().unwrap(), 24).unwrap();
    assert_eq!(s.capacity(), 256);
    s.occupy(&"10.244.0.0/24".parse().unwrap()).unwrap();
    assert_eq!(s.allocate_next().unwrap().to_string(), "10.244.1.0/24");
    assert_eq!(s.allocate_next().unwrap().to_string(), "10.244.2.0/24");
    assert!(s.release(&"10.244.1.0/24".parse().unwrap()));
    assert_eq!(
        s.allocate_next().unwrap().to_string(),
        "10.244.3.0/24",
        "round-robin, not first-free"
    );
    assert!(s.occupy(&"10.244.2.0/24".parse().unwrap()).is_err());
    assert!(s.occupy(&"10.245.0.0/24".parse().unwrap()).is_err());
    assert!(s.occupy(&"10.244.9.0/25".parse().unwrap()).is_err());
    assert_eq!(s.used(), 3);
    assert!(SubnetAllocator::new("10.244.0.0/16".parse().unwrap(), 8).is_err());
    let mut tiny = SubnetAllocator::new("10.0.0.0/23".parse().unwrap(), 24).unwrap();
    tiny.allocate_next().unwrap();
    tiny.allocate_next().unwrap();
    assert!(matches!(tiny.allocate_next(), Err(CidrError::Full(_))));
}
