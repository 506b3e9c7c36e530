//! Periodic host sample from sysinfo (CPU, memory, load, disks, interfaces,
//! processes) plus utmp sessions. Every call blocks on /proc reads: run it on
//! a blocking thread, never on an async worker.

use std::cmp::Ordering;
use std::path::PathBuf;

use shouwang_proto::{
    CpuSample, DiskSample, HostSample, InterfaceSample, LoadAverage, MemorySample, ProcessInfo,
    ProcessSummary,
};
use sysinfo::{DiskRefreshKind, Disks, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

/// How many processes each top list holds.
pub const TOP_N: usize = 5;

/// Filesystems that are not storage anyone fills up.
const PSEUDO_FS: &[&str] = &[
    "tmpfs", "devtmpfs", "squashfs", "ramfs", "proc", "sysfs", "cgroup", "cgroup2", "nsfs",
    "efivarfs", "autofs",
];

/// Samples between full re-reads of the mount list (usage is refreshed
/// every sample; new mounts show up within this many samples).
const MOUNT_RELIST_EVERY: u32 = 6;

/// Owns the sysinfo state that makes deltas (CPU %) possible.
pub struct HostSampler {
    system: System,
    disks: Disks,
    utmp: PathBuf,
    samples: u32,
}

impl HostSampler {
    /// Takes the first reading so the next sample has CPU deltas.
    pub fn new(utmp: PathBuf) -> anyhow::Result<Self> {
        let mut system = System::new().map_err(|e| anyhow::anyhow!("sysinfo: {e}"))?;
        system.refresh_cpu_usage();
        system.refresh_processes_specifics(ProcessesToUpdate::All, true, process_kind());
        let disks = Disks::new_with_refreshed_list_specifics(disk_kind())
            .map_err(|e| anyhow::anyhow!("disks: {e}"))?;
        Ok(Self {
            system,
            disks,
            utmp,
            samples: 0,
        })
    }

    /// One sample. The listening counts are filled in by the caller.
    pub fn sample(&mut self) -> HostSample {
        let s = &mut self.system;
        s.refresh_cpu_usage();
        s.refresh_memory();
        s.refresh_processes_specifics(ProcessesToUpdate::All, true, process_kind());
        self.samples = self.samples.wrapping_add(1);
        if self.samples.is_multiple_of(MOUNT_RELIST_EVERY) {
            // New mounts appear; vanished ones are dropped.
            self.disks.refresh_specifics(true, disk_kind());
        } else {
            for d in self.disks.iter_mut() {
                d.refresh_specifics(disk_kind());
            }
        }

        let load = System::load_average().unwrap_or(sysinfo::LoadAvg {
            one: 0.0,
            five: 0.0,
            fifteen: 0.0,
        });
        let mut disks: Vec<DiskSample> = self
            .disks
            .iter()
            .filter(|d| {
                let fs = d.file_system().to_string_lossy();
                d.total_space() > 0 && !PSEUDO_FS.contains(&fs.as_ref())
            })
            .map(|d| DiskSample {
                mount: d.mount_point().display().to_string(),
                device: d.name().to_string_lossy().into_owned(),
                fs: d.file_system().to_string_lossy().into_owned(),
                total: d.total_space(),
                available: d.available_space(),
            })
            .collect();
        disks.sort_by(|a, b| a.mount.cmp(&b.mount));
        disks.dedup_by(|a, b| a.mount == b.mount);

        // One read of /proc/net/dev rather than several sysfs files per interface.
        let mut interfaces: Vec<InterfaceSample> = procfs::net::dev_status()
            .map(|m| {
                m.into_values()
                    .map(|d| InterfaceSample {
                        name: d.name,
                        rx_bytes: d.recv_bytes,
                        tx_bytes: d.sent_bytes,
                        rx_packets: d.recv_packets,
                        tx_packets: d.sent_packets,
                        rx_errors: d.recv_errs,
                        tx_errors: d.sent_errs,
                    })
                    .collect()
            })
            .unwrap_or_default();
        interfaces.sort_by(|a, b| a.name.cmp(&b.name));

        let procs: Vec<ProcessInfo> = s
            .processes()
            .iter()
            .filter(|(_, p)| p.thread_kind().is_none())
            .map(|(pid, p)| ProcessInfo {
                pid: pid.as_u32(),
                name: p.name().to_string_lossy().into_owned(),
                uid: p.user_id().map(|u| **u),
                cpu_pct: p.cpu_usage(),
                memory: p.memory(),
            })
            .collect();
        let count = u32::try_from(procs.len()).unwrap_or(u32::MAX);
        let top_cpu = top(&procs, |a, b| {
            b.cpu_pct.partial_cmp(&a.cpu_pct).unwrap_or(Ordering::Equal)
        });
        let top_memory = top(&procs, |a, b| b.memory.cmp(&a.memory));

        let sessions = super::sessions::read_sessions(&self.utmp).unwrap_or_default();

        HostSample {
            cpu: CpuSample {
                usage_pct: s.global_cpu_usage(),
                per_core_pct: s.cpus().iter().map(|c| c.usage()).collect(),
            },
            memory: MemorySample {
                total: s.total_memory(),
                used: s.used_memory(),
                available: s.available_memory(),
                swap_total: s.total_swap(),
                swap_used: s.used_swap(),
            },
            load: LoadAverage {
                one: load.one,
                five: load.five,
                fifteen: load.fifteen,
            },
            disks,
            interfaces,
            processes: ProcessSummary {
                count,
                top_cpu,
                top_memory,
            },
            listening_tcp: 0,
            listening_udp: 0,
            sessions,
            boot_time: boot_time(),
            uptime_secs: System::uptime().unwrap_or_default(),
        }
    }
}

/// Host boot time in seconds since the epoch (`btime` in /proc/stat).
pub fn boot_time() -> i64 {
    System::boot_time()
        .ok()
        .and_then(|b| i64::try_from(b).ok())
        .unwrap_or_default()
}

/// Space only: no per-disk I/O counters, no rotational-media probing.
fn disk_kind() -> DiskRefreshKind {
    DiskRefreshKind::nothing().with_storage()
}

fn process_kind() -> ProcessRefreshKind {
    ProcessRefreshKind::nothing()
        .with_cpu()
        .with_memory()
        .with_user(UpdateKind::OnlyIfNotSet)
}

fn top(
    procs: &[ProcessInfo],
    order: impl Fn(&ProcessInfo, &ProcessInfo) -> Ordering,
) -> Vec<ProcessInfo> {
    let mut v: Vec<&ProcessInfo> = procs.iter().collect();
    v.sort_by(|a, b| order(a, b).then(a.pid.cmp(&b.pid)));
    v.into_iter().take(TOP_N).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_host() {
        let mut s = HostSampler::new("/nonexistent/utmp".into()).unwrap();
        let h = s.sample();
        assert!(h.memory.total > 0);
        assert!(h.memory.used <= h.memory.total);
        assert_eq!(
            h.cpu.per_core_pct.len(),
            std::thread::available_parallelism().unwrap().get()
        );
        assert!(h.processes.count >= 1);
        assert!(h.processes.top_memory.len() <= TOP_N);
        // Top memory list is sorted, heaviest first.
        assert!(
            h.processes
                .top_memory
                .windows(2)
                .all(|w| w[0].memory >= w[1].memory)
        );
        assert!(h.interfaces.iter().any(|i| i.name == "lo"));
        assert!(h.boot_time > 1_000_000_000);
    }
}
