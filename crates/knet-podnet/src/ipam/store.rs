//! host-local's file store: one file per reserved IP, `last_reserved_ip.<n>`,
//! and a `lock` file held with `flock(LOCK_EX)` for the whole operation.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// Separator between container id and ifname inside a reservation file.
const LINE_BREAK: &str = "\r\n";

/// Errors of the file store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("IPAM store {path}: {op}: {source}")]
    Io {
        /// What was attempted.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Locking failed.
    #[error("IPAM store {path}: cannot lock: {source}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The errno.
        #[source]
        source: nix::Error,
    },
}

/// The state directory of one network.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
}

/// An exclusive lock on a store; released on drop.
#[derive(Debug)]
pub struct StoreLock(#[allow(dead_code)] Flock<File>);

impl FileStore {
    /// Opens (creating if needed) the directory.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            op: "create directory",
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    fn io(&self, op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.to_path_buf();
        move |source| StoreError::Io { op, path, source }
    }

    /// Takes the store's exclusive lock (blocks until free).
    pub fn lock(&self) -> Result<StoreLock, StoreError> {
        let path = self.dir.join("lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(self.io("open lock file", &path))?;
        Flock::lock(f, FlockArg::LockExclusive)
            .map(StoreLock)
            .map_err(|(_, source)| StoreError::Lock { path, source })
    }

    /// Every reserved address.
    pub fn reserved(&self) -> Result<BTreeSet<Ipv4Addr>, StoreError> {
        Ok(self.entries()?.into_iter().map(|(ip, _)| ip).collect())
    }

    fn entries(&self) -> Result<Vec<(Ipv4Addr, String)>, StoreError> {
        let rd = std::fs::read_dir(&self.dir).map_err(self.io("read directory", &self.dir))?;
        let mut out = Vec::new();
        for e in rd {
            let e = e.map_err(self.io("read directory", &self.dir))?;
            let Some(ip) = e.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            let content = std::fs::read_to_string(e.path()).unwrap_or_default();
            out.push((ip, content));
        }
        Ok(out)
    }

    /// Addresses held by `(id, ifname)`.
    pub fn find(&self, id: &str, ifname: &str) -> Result<Vec<Ipv4Addr>, StoreError> {
        let want = owner(id, ifname);
        Ok(self
            .entries()?
            .into_iter()
            .filter(|(_, c)| c.trim() == want)
            .map(|(ip, _)| ip)
            .collect())
    }

    /// Records `ip` as held by `(id, ifname)`; fails if the file exists.
    pub fn reserve(&self, ip: Ipv4Addr, id: &str, ifname: &str) -> Result<(), StoreError> {
        let path = self.dir.join(ip.to_string());
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(self.io("reserve", &path))?;
        // Like host-local: no fsync (it costs ~20 ms per ADD on a disk;
        // state directories belong on tmpfs such as /run anyway).
        f.write_all(owner(id, ifname).as_bytes())
            .map_err(self.io("write reservation", &path))
    }

    /// Deletes every reservation of `(id, ifname)`; returns the addresses.
    pub fn release(&self, id: &str, ifname: &str) -> Result<Vec<Ipv4Addr>, StoreError> {
        let ips = self.find(id, ifname)?;
        for ip in &ips {
            let path = self.dir.join(ip.to_string());
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io("release", &path)(e)),
            }
        }
        Ok(ips)
    }

    /// Deletes every reservation whose owner `keep(id, ifname)` rejects
    /// (CNI GC); returns the released addresses.
    pub fn release_unless(
        &self,
        keep: impl Fn(&str, &str) -> bool,
    ) -> Result<Vec<Ipv4Addr>, StoreError> {
        let mut out = Vec::new();
        for (ip, content) in self.entries()? {
            let content = content.trim();
            let (id, ifname) = content.split_once(LINE_BREAK).unwrap_or((content, ""));
            if keep(id, ifname) {
                continue;
            }
            let path = self.dir.join(ip.to_string());
            match std::fs::remove_file(&path) {
                Ok(()) => out.push(ip),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io("release", &path)(e)),
            }
        }
        Ok(out)
    }

    /// `last_reserved_ip.<set>`.
    pub fn last_reserved(&self, set: usize) -> Result<Option<Ipv4Addr>, StoreError> {
        let path = self.dir.join(format!("last_reserved_ip.{set}"));
        match std::fs::read_to_string(&path) {
            Ok(s) => Ok(s.trim().parse().ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("read last reserved", &path)(e)),
        }
    }

    /// Writes `last_reserved_ip.<set>`.
    pub fn set_last_reserved(&self, set: usize, ip: Ipv4Addr) -> Result<(), StoreError> {
        let path = self.dir.join(format!("last_reserved_ip.{set}"));
        std::fs::write(&path, ip.to_string()).map_err(self.io("write last reserved", &path))
    }
}

fn owner(id: &str, ifname: &str) -> String {
    format!("{id}{LINE_BREAK}{ifname}")
}

#[cfg(test)]
mod tests {
    use super::super::{IpamConfig, RangeConfig, allocate, release};
    use super::*;

    fn cfg(dir: &Path, subnet: &str) -> IpamConfig {
        IpamConfig {
            kind: "host-local".into(),
            ranges: vec![vec![RangeConfig {
                subnet: subnet.parse().unwrap(),
                range_start: None,
                range_end: None,
                gateway: None,
            }]],
            data_dir: Some(dir.to_path_buf()),
            ..Default::default()
        }
    }

    #[test]
    fn layout_matches_host_local() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cfg(tmp.path(), "10.1.0.0/24");
        let a = allocate(&c, "net", "cid1", "eth0").unwrap();
        assert_eq!(a.address.to_string(), "10.1.0.2/24");
        assert_eq!(a.gateway, Ipv4Addr::new(10, 1, 0, 1));
        let f = std::fs::read_to_string(tmp.path().join("net/10.1.0.2")).unwrap();
        assert_eq!(f, "cid1\r\neth0");
        let last = std::fs::read_to_string(tmp.path().join("net/last_reserved_ip.0")).unwrap();
        assert_eq!(last, "10.1.0.2");
        assert!(tmp.path().join("net/lock").exists());
    }

    #[test]
    fn never_twice_release_and_round_robin() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cfg(tmp.path(), "10.1.0.0/29");
        let a = allocate(&c, "n", "a", "eth0").unwrap();
        let b = allocate(&c, "n", "b", "eth0").unwrap();
        assert_ne!(a.address, b.address);
        assert!(matches!(
            allocate(&c, "n", "a", "eth0"),
            Err(super::super::IpamError::Duplicate { .. })
        ));
        assert_eq!(
            release(&c, "n", "a", "eth0").unwrap(),
            vec![a.address.addr()]
        );
        assert!(release(&c, "n", "a", "eth0").unwrap().is_empty());
        // Round-robin: the next one is after b, not a's freed address.
        let c3 = allocate(&c, "n", "c", "eth0").unwrap();
        assert_eq!(c3.address.addr(), Ipv4Addr::new(10, 1, 0, 4));
    }

    #[test]
    fn exhaustion_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cfg(tmp.path(), "10.1.0.0/30");
        allocate(&c, "n", "a", "eth0").unwrap();
        let e = allocate(&c, "n", "b", "eth0").unwrap_err();
        assert!(e.to_string().contains("no free IP"), "{e}");
    }

    #[test]
    fn concurrent_allocations_are_distinct() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cfg(tmp.path(), "10.2.0.0/24");
        let ips: Vec<Ipv4Addr> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..16)
                .map(|i| {
                    let c = c.clone();
                    s.spawn(move || allocate(&c, "n", &format!("c{i}"), "eth0").unwrap())
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap().address.addr())
                .collect()
        });
        let set: BTreeSet<_> = ips.iter().collect();
        assert_eq!(set.len(), 16);
    }
}
