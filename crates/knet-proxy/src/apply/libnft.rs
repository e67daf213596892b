//! [`Nft`] through libnftables (loaded at run time with dlopen), from one
//! worker thread that stays in the node's namespace with one long-lived nft
//! context.
//!
//! Versus piping every transaction to a new `nft` process this saves the
//! process start (a few ms) and, above all, the wait at exit: closing an
//! nftables netlink socket flushes the kernel's deferred release work, which
//! waits for an RCU grace period (10–20 ms here) whenever the transaction
//! deleted anything. A long-lived socket never pays that on the sync path.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::OnceLock;
use std::sync::mpsc;

use super::{ApplyError, Netns, Nft};

type CtxNew = unsafe extern "C" fn(u32) -> *mut c_void;
type CtxFree = unsafe extern "C" fn(*mut c_void);
type CtxInt = unsafe extern "C" fn(*mut c_void) -> c_int;
type CtxStr = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type RunBuf = unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int;

/// The libnftables entry points used here.
struct Lib {
    ctx_new: CtxNew,
    ctx_free: CtxFree,
    buffer_output: CtxInt,
    buffer_error: CtxInt,
    get_error_buffer: CtxStr,
    run_cmd_from_buffer: RunBuf,
}

fn load() -> Option<Lib> {
    // SAFETY: dlopen/dlsym with NUL-terminated names; the handle is never
    // closed, so the function pointers stay valid for the process lifetime,
    // and each is cast to the signature libnftables(3) documents.
    unsafe {
        let handle = libc::dlopen(c"libnftables.so.1".as_ptr(), libc::RTLD_NOW);
        if handle.is_null() {
            return None;
        }
        let sym = |name: &CStr| {
            let p = libc::dlsym(handle, name.as_ptr());
            (!p.is_null()).then_some(p)
        };
        Some(Lib {
            ctx_new: std::mem::transmute::<*mut c_void, CtxNew>(sym(c"nft_ctx_new")?),
            ctx_free: std::mem::transmute::<*mut c_void, CtxFree>(sym(c"nft_ctx_free")?),
            buffer_output: std::mem::transmute::<*mut c_void, CtxInt>(sym(
                c"nft_ctx_buffer_output",
            )?),
            buffer_error: std::mem::transmute::<*mut c_void, CtxInt>(sym(c"nft_ctx_buffer_error")?),
            get_error_buffer: std::mem::transmute::<*mut c_void, CtxStr>(sym(
                c"nft_ctx_get_error_buffer",
            )?),
            run_cmd_from_buffer: std::mem::transmute::<*mut c_void, RunBuf>(sym(
                c"nft_run_cmd_from_buffer",
            )?),
        })
    }
}

fn lib() -> Option<&'static Lib> {
    static LIB: OnceLock<Option<Lib>> = OnceLock::new();
    LIB.get_or_init(load).as_ref()
}

type Job = (CString, mpsc::Sender<Result<(), ApplyError>>);

fn worker_gone() -> ApplyError {
    ApplyError::Spawn {
        program: "nft worker thread".into(),
        source: std::io::Error::other("exited"),
    }
}

/// [`Nft`] backed by libnftables on a worker thread inside the namespace.
#[derive(Debug)]
pub struct NftLib {
    jobs: Option<mpsc::Sender<Job>>,
    worker: Option<std::thread::JoinHandle<()>>,
}

/// Runs jobs with one nft context until the sender is dropped.
fn serve(lib: &Lib, ctx: *mut c_void, jobs: mpsc::Receiver<Job>) {
    for (script, reply) in jobs {
        // SAFETY: ctx is valid and script NUL-terminated; the error buffer is
        // copied out before the next call reuses it.
        let result = unsafe {
            if (lib.run_cmd_from_buffer)(ctx, script.as_ptr()) == 0 {
                Ok(())
            } else {
                let err = (lib.get_error_buffer)(ctx);
                let mut stderr = if err.is_null() {
                    "nft failed".to_string()
                } else {
                    CStr::from_ptr(err).to_string_lossy().into_owned()
                };
                stderr.truncate(4000);
                Err(ApplyError::Rejected { stderr })
            }
        };
        let _ = reply.send(result);
    }
}

impl NftLib {
    /// Starts the worker in `netns`; `None` when libnftables is missing.
    pub fn new(netns: &Netns) -> Result<Option<NftLib>, ApplyError> {
        let Some(lib) = lib() else {
            return Ok(None);
        };
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let netns = netns.clone();
        let worker = std::thread::Builder::new()
            .name("knet-proxy-nft".into())
            .spawn(move || {
                if let Err(e) = netns.enter() {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
                // SAFETY: a fresh context, used and freed on this thread only.
                let ctx = unsafe { (lib.ctx_new)(0) };
                if ctx.is_null() {
                    let _ = ready_tx.send(Err(ApplyError::Spawn {
                        program: "libnftables".into(),
                        source: std::io::Error::other("nft_ctx_new failed"),
                    }));
                    return;
                }
                // SAFETY: ctx is valid.
                unsafe {
                    (lib.buffer_output)(ctx);
                    (lib.buffer_error)(ctx);
                }
                let _ = ready_tx.send(Ok(()));
                serve(lib, ctx, rx);
                // SAFETY: ctx is valid and no longer used.
                unsafe { (lib.ctx_free)(ctx) };
            })
            .map_err(|source| ApplyError::Spawn {
                program: "nft worker thread".into(),
                source,
            })?;
        ready_rx.recv().map_err(|_| worker_gone())??;
        Ok(Some(NftLib {
            jobs: Some(jobs),
            worker: Some(worker),
        }))
    }
}

impl Nft for NftLib {
    fn apply(&mut self, script: &str) -> Result<(), ApplyError> {
        let script = CString::new(script).map_err(|_| ApplyError::Rejected {
            stderr: "script contains a NUL byte".into(),
        })?;
        let (tx, rx) = mpsc::channel();
        self.jobs
            .as_ref()
            .ok_or_else(worker_gone)?
            .send((script, tx))
            .map_err(|_| worker_gone())?;
        rx.recv().map_err(|_| worker_gone())?
    }
}

impl Drop for NftLib {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}
