//! libccp 1.2's C API, driven directly. Shared by every user of libccp in the suite:
//! `runtime_libccp`, `wire_upstream`, the runtime bench (all in `ccp`) and `datapaths`'s
//! `libccp_interop` (the last two include this file by path, `ccp/tests/it/runtime_ffi.rs`).
//!
//! The `libccp` crate's wrapper reads the wall clock in nanoseconds and mallocs its connection
//! table without zeroing it, so a recycled heap block gives the new flow a garbage slot (a
//! wrong socket id, or a stale `last_create_msg_sent` that holds back the CREATE). Here the
//! clock is a test-controlled microsecond counter ([`NOW_US`], per thread) and the table is a
//! zeroed `Vec`, so libccp's behaviour is deterministic. The messages libccp sends are captured
//! in [`Seen::msgs`] (a test that talks to an agent over a socket forwards them after each
//! call). Struct layouts follow `ccp.h` on x86-64.
#![allow(dead_code)]

use ccp::datapath::Primitives;
use std::cell::Cell;
use std::os::raw::{c_char, c_int, c_void};

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct CPrims {
    bytes_acked: u32,
    packets_acked: u32,
    bytes_misordered: u32,
    packets_misordered: u32,
    ecn_bytes: u32,
    ecn_packets: u32,
    lost_pkts_sample: u32,
    was_timeout: bool,
    rtt_sample_us: u64,
    rate_outgoing: u64,
    rate_incoming: u64,
    bytes_in_flight: u32,
    packets_in_flight: u32,
    snd_cwnd: u32,
    snd_rate: u64,
    bytes_pending: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CInfo {
    init_cwnd: u32,
    mss: u32,
    src_ip: u32,
    src_port: u32,
    dst_ip: u32,
    dst_port: u32,
    cong_alg: [c_char; 64],
}

impl Default for CInfo {
    fn default() -> Self {
        CInfo {
            init_cwnd: 0,
            mss: 0,
            src_ip: 0,
            src_port: 0,
            dst_ip: 0,
            dst_port: 0,
            cong_alg: [0; 64],
        }
    }
}

impl CInfo {
    /// A flow's `ccp_datapath_info`: initial window, MSS, (src ip, src port, dst ip, dst port)
    /// and the algorithm name (at most 63 bytes, NUL-terminated).
    pub fn new(init_cwnd: u32, mss: u32, four_tuple: [u32; 4], alg: &str) -> Self {
        assert!(alg.len() < 64, "algorithm name too long");
        let mut cong_alg = [0 as c_char; 64];
        for (d, s) in cong_alg.iter_mut().zip(alg.bytes()) {
            *d = s as c_char;
        }
        CInfo {
            init_cwnd,
            mss,
            src_ip: four_tuple[0],
            src_port: four_tuple[1],
            dst_ip: four_tuple[2],
            dst_port: four_tuple[3],
            cong_alg,
        }
    }
}

#[repr(C)]
pub struct CConn {
    index: u16,
    last_create_msg_sent: u64,
    prims: CPrims,
    flow_info: CInfo,
    state: *mut c_void,
    impl_: *mut c_void,
    datapath: *mut CDatapath,
}

#[repr(C)]
pub struct CDatapath {
    set_cwnd: extern "C" fn(*mut CConn, u32),
    set_rate_abs: extern "C" fn(*mut CConn, u32),
    send_msg: extern "C" fn(*mut CDatapath, *mut c_char, c_int) -> c_int,
    log: Option<extern "C" fn(*mut CDatapath, c_int, *const c_char, c_int)>,
    time_zero: u64,
    now: extern "C" fn() -> u64,
    since_usecs: extern "C" fn(u64) -> u64,
    after_usecs: extern "C" fn(u64) -> u64,
    max_connections: usize,
    ccp_active_connections: *mut CConn,
    fto_us: u64,
    last_msg_sent: u64,
    in_fallback: bool,
    max_programs: usize,
    programs: *mut c_void,
    impl_: *mut c_void,
}

// The sizes bindgen reports for libccp 1.2's `ccp.h` on x86-64.
const _: () = assert!(std::mem::size_of::<CConn>() == 216);
const _: () = assert!(std::mem::size_of::<CDatapath>() == 128);

extern "C" {
    fn ccp_init(dp: *mut CDatapath, id: u32) -> c_int;
    fn ccp_free(dp: *mut CDatapath);
    fn ccp_connection_start(dp: *mut CDatapath, impl_: *mut c_void, info: *mut CInfo)
        -> *mut CConn;
    fn ccp_read_msg(dp: *mut CDatapath, buf: *mut c_char, len: c_int) -> c_int;
    fn ccp_invoke(conn: *mut CConn) -> c_int;
    fn ccp_connection_free(dp: *mut CDatapath, sid: u16);
}

// Keep the `libccp` crate (and with it libccp.a) linked.
use libccp as _;

pub const LIBCCP_ADD_INT_OVERFLOW: c_int = -91;
pub const LIBCCP_DIV_BY_ZERO: c_int = -92;
pub const LIBCCP_MUL_INT_OVERFLOW: c_int = -93;
pub const LIBCCP_SUB_INT_UNDERFLOW: c_int = -94;

thread_local! {
    /// The datapath clock, in microseconds.
    pub static NOW_US: Cell<u64> = const { Cell::new(0) };
}

pub extern "C" fn now() -> u64 {
    NOW_US.with(Cell::get)
}
pub extern "C" fn since_usecs(then: u64) -> u64 {
    now().wrapping_sub(then)
}
pub extern "C" fn after_usecs(us: u64) -> u64 {
    now() + us
}

/// What libccp did during one call.
#[derive(Default)]
pub struct Seen {
    pub msgs: Vec<Vec<u8>>,
    pub cwnd: Option<u32>,
    pub rate: Option<u32>,
}

pub extern "C" fn send_msg(dp: *mut CDatapath, msg: *mut c_char, len: c_int) -> c_int {
    // SAFETY: `impl_` points at the `Seen` owned by the `Libccp` that owns `dp`, and `msg`
    // points at `len` bytes, for the duration of this call.
    unsafe {
        let seen = &mut *((*dp).impl_ as *mut Seen);
        let b = std::slice::from_raw_parts(msg as *const u8, len.max(0) as usize);
        seen.msgs.push(b.to_vec());
    }
    0
}
pub extern "C" fn set_cwnd(conn: *mut CConn, cwnd: u32) {
    // SAFETY: as in `send_msg`; the connection's `impl_` is the same `Seen`.
    unsafe { (*((*conn).impl_ as *mut Seen)).cwnd = Some(cwnd) }
}
pub extern "C" fn set_rate_abs(conn: *mut CConn, rate: u32) {
    // SAFETY: as in `set_cwnd`.
    unsafe { (*((*conn).impl_ as *mut Seen)).rate = Some(rate) }
}

/// Slots in the connection table.
pub const MAX_CONNECTIONS: usize = 4;

/// One libccp datapath with (at most) one flow, on a zeroed connection table.
pub struct Libccp {
    dp: Box<CDatapath>,
    _conns: Vec<CConn>,
    pub seen: Box<Seen>,
    conn: *mut CConn,
}

impl Default for Libccp {
    fn default() -> Self {
        Self::new()
    }
}

impl Libccp {
    /// A datapath with id 0 and one flow with an all-zero `ccp_datapath_info`.
    pub fn new() -> Self {
        let mut lib = Self::init(0);
        lib.start(CInfo::default());
        lib
    }

    /// `ccp_init` with datapath id `id` (libccp sends READY); no flow yet.
    pub fn init(id: u32) -> Self {
        let mut seen = Box::<Seen>::default();
        let mut conns: Vec<CConn> = (0..MAX_CONNECTIONS)
            .map(|_| CConn {
                index: 0,
                last_create_msg_sent: 0,
                prims: CPrims::default(),
                flow_info: CInfo::default(),
                state: std::ptr::null_mut(),
                impl_: std::ptr::null_mut(),
                datapath: std::ptr::null_mut(),
            })
            .collect();
        let seen_ptr = &mut *seen as *mut Seen as *mut c_void;
        let mut dp = Box::new(CDatapath {
            set_cwnd,
            set_rate_abs,
            send_msg,
            log: None,
            time_zero: 0,
            now,
            since_usecs,
            after_usecs,
            max_connections: conns.len(),
            ccp_active_connections: conns.as_mut_ptr(),
            fto_us: 1_000_000,
            last_msg_sent: 0,
            in_fallback: false,
            max_programs: 10,
            programs: std::ptr::null_mut(),
            impl_: seen_ptr,
        });
        // SAFETY: every callback and table pointer lives as long as `Libccp` (the boxes and
        // the vector's buffer never move); libccp keeps pointers to `dp`, the table and
        // `seen` only.
        unsafe { assert_eq!(ccp_init(&mut *dp, id), 0) };
        Libccp {
            dp,
            _conns: conns,
            seen,
            conn: std::ptr::null_mut(),
        }
    }

    /// `ccp_connection_start` (libccp sends CREATE); returns the socket id. The table is
    /// zeroed, so the first flow is always socket 1.
    pub fn start(&mut self, mut info: CInfo) -> u32 {
        assert!(self.conn.is_null(), "one flow per harness");
        let seen_ptr = &mut *self.seen as *mut Seen as *mut c_void;
        // SAFETY: as in `init`; `info` is copied by libccp.
        let conn = unsafe { ccp_connection_start(&mut *self.dp, seen_ptr, &mut info) };
        assert!(!conn.is_null());
        self.conn = conn;
        self.sid()
    }

    /// `ccp_connection_free` (libccp sends the close MEASURE and frees the flow's state).
    pub fn close(&mut self) {
        let sid = self.sid() as u16;
        // SAFETY: `conn` is a live flow of this datapath; afterwards it is forgotten.
        unsafe { ccp_connection_free(&mut *self.dp, sid) };
        self.conn = std::ptr::null_mut();
    }

    pub fn sid(&self) -> u32 {
        assert!(!self.conn.is_null(), "no flow");
        // SAFETY: `conn` points into the live table.
        u32::from(unsafe { (*self.conn).index })
    }

    /// The messages libccp sent since the last call, oldest first.
    pub fn take_msgs(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.seen.msgs)
    }

    pub fn recv(&mut self, msg: &[u8]) -> c_int {
        let mut b = msg.to_vec();
        // SAFETY: `b` is a valid buffer of the given length for the call.
        unsafe {
            ccp_read_msg(
                &mut *self.dp,
                b.as_mut_ptr() as *mut c_char,
                b.len() as c_int,
            )
        }
    }

    pub fn invoke(&mut self, p: &Primitives) -> c_int {
        assert!(!self.conn.is_null(), "no flow");
        self.seen.cwnd = None;
        self.seen.rate = None;
        // SAFETY: `conn` points into the live table; libccp reads the primitives from it.
        unsafe {
            (*self.conn).prims = CPrims {
                bytes_acked: p.bytes_acked,
                packets_acked: p.packets_acked,
                bytes_misordered: p.bytes_misordered,
                packets_misordered: p.packets_misordered,
                ecn_bytes: p.ecn_bytes,
                ecn_packets: p.ecn_packets,
                lost_pkts_sample: p.lost_pkts_sample,
                was_timeout: p.was_timeout,
                rtt_sample_us: p.rtt_sample.as_micros(),
                rate_outgoing: p.rate_outgoing,
                rate_incoming: p.rate_incoming,
                bytes_in_flight: p.bytes_in_flight,
                packets_in_flight: p.packets_in_flight,
                snd_cwnd: p.snd_cwnd,
                snd_rate: p.snd_rate,
                bytes_pending: p.bytes_pending,
            };
            ccp_invoke(self.conn)
        }
    }
}

impl Drop for Libccp {
    fn drop(&mut self) {
        // SAFETY: frees the program table ccp_init allocated. (The flow's private state is
        // left allocated: freeing it would send a close message through a dying datapath.)
        unsafe { ccp_free(&mut *self.dp) }
    }
}

/// Zeroes the connection table of a datapath made by the `libccp` crate's
/// `DatapathBuilder::init` (which mallocs its 1024-slot table without zeroing it), so that
/// `Connection::start` finds slot 1 free and clean. Call it before any flow starts.
///
/// The crate's `Datapath` is a newtype around bindgen's `ccp_datapath`, i.e. [`CDatapath`].
/// The fields the crate sets are checked first, so a layout mismatch panics rather than
/// writing anywhere; only the separately allocated table is written.
pub fn zero_crate_table(dp: &libccp::Datapath) {
    let c = dp as *const libccp::Datapath as *const CDatapath;
    // SAFETY: reads the (checked) fields of the wrapped `ccp_datapath`; the table it points
    // to is a malloc'd block of `max_connections` slots that no flow uses yet.
    unsafe {
        assert_eq!((*c).max_connections, 1024, "libccp crate layout");
        assert_eq!((*c).max_programs, 10, "libccp crate layout");
        assert_eq!((*c).fto_us, 1000, "libccp crate layout");
        assert!(!(*c).programs.is_null() && !(*c).ccp_active_connections.is_null());
        std::ptr::write_bytes((*c).ccp_active_connections, 0, (*c).max_connections);
    }
}
