//! Host telemetry: periodic samples and listening-socket changes.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// One periodic sample of a host.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HostSample {
    pub cpu: CpuSample,
    pub memory: MemorySample,
    pub load: LoadAverage,
    /// Mounted block-device filesystems (pseudo filesystems left out).
    pub disks: Vec<DiskSample>,
    /// Network interfaces with cumulative counters since boot.
    pub interfaces: Vec<InterfaceSample>,
    pub processes: ProcessSummary,
    /// Listening TCP sockets (IPv4 and IPv6) at sample time.
    pub listening_tcp: u32,
    /// Bound UDP sockets (IPv4 and IPv6) at sample time.
    pub listening_udp: u32,
    /// Logged-in sessions from utmp.
    pub sessions: Vec<Session>,
    /// Boot time, seconds since the epoch; a change means the host rebooted.
    pub boot_time: i64,
    /// Seconds since boot.
    pub uptime_secs: u64,
}

/// CPU utilisation over the last sampling interval, 0–100 per CPU.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CpuSample {
    /// Average over all logical CPUs.
    pub usage_pct: f32,
    /// One entry per logical CPU, in kernel order.
    pub per_core_pct: Vec<f32>,
}

/// Memory in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemorySample {
    pub total: u64,
    pub used: u64,
    pub available: u64,
    pub swap_total: u64,
    pub swap_used: u64,
}

/// Load averages over 1, 5 and 15 minutes.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LoadAverage {
    pub one: f64,
    pub five: f64,
    pub fifteen: f64,
}

/// Usage of one mounted filesystem, in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskSample {
    pub mount: String,
    pub device: String,
    pub fs: String,
    pub total: u64,
    pub available: u64,
}

/// Cumulative counters of one network interface since boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceSample {
    pub name: String,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
}

/// Process count and the heaviest processes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProcessSummary {
    pub count: u32,
    /// Top 5 by CPU over the last interval.
    pub top_cpu: Vec<ProcessInfo>,
    /// Top 5 by resident memory.
    pub top_memory: Vec<ProcessInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessInfo {
    pub pid: u32,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// CPU over the last interval, percent of one CPU (may exceed 100).
    pub cpu_pct: f32,
    /// Resident set size in bytes.
    pub memory: u64,
}

/// A logged-in session (utmp `USER_PROCESS` record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub user: String,
    /// Terminal line, e.g. `pts/0`.
    pub line: String,
    /// Remote host for network logins, empty for local ones.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// Login time, seconds since the epoch.
    pub login_time: i64,
    pub pid: u32,
}

/// Transport of a listening socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportProto {
    Tcp,
    Udp,
}

/// A listening TCP socket or bound UDP socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenSocket {
    pub proto: TransportProto,
    pub addr: IpAddr,
    pub port: u16,
    /// Owning process, when the agent may read other processes' descriptors
    /// (root or CAP_SYS_PTRACE/CAP_DAC_READ_SEARCH); `None` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    /// Socket owner uid as the kernel reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
}

/// All listening sockets at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ListenSnapshot {
    pub sockets: Vec<ListenSocket>,
}

/// Direction of a [`ListenChange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SocketChange {
    Opened,
    Closed,
}

/// A listening socket appeared or went away since the previous sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenChange {
    pub change: SocketChange,
    #[serde(flatten)]
    pub socket: ListenSocket,
}
