//! The capture socket's system calls. The only module of the agent allowed
//! `unsafe`: each block is one libc call on a descriptor this module opened,
//! with sizes taken from the Rust types passed.
#![allow(unsafe_code)]

use std::io;

/// A classic BPF instruction (`struct sock_filter`), as `tcpdump -ddd` prints.
pub type BpfInsn = libc::sock_filter;

/// Opens an `AF_PACKET` raw socket for all protocols (needs CAP_NET_RAW).
pub fn open_packet_socket() -> io::Result<i32> {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto)) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

fn setsockopt<T>(fd: i32, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a valid reference for the duration of the call and
    // its size is passed with it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast::<libc::c_void>(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Sets the receive buffer; tries SO_RCVBUFFORCE (CAP_NET_ADMIN) first so
/// `net.core.rmem_max` does not cap it. Returns the size the kernel granted.
pub fn set_rcvbuf(fd: i32, bytes: usize) -> io::Result<usize> {
    let want = i32::try_from(bytes).unwrap_or(i32::MAX);
    if setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &want).is_err() {
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &want)?;
    }
    let mut got: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: `got` and `len` are valid for writes of the declared size.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&mut got as *mut i32).cast(),
            &mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(got).unwrap_or(0))
}

/// Attaches a classic BPF program to the socket.
pub fn attach_filter(fd: i32, prog: &[BpfInsn]) -> io::Result<()> {
    let fprog = libc::sock_fprog {
        len: u16::try_from(prog.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "BPF program longer than 65535 instructions",
            )
        })?,
        filter: prog.as_ptr().cast_mut(),
    };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
}

/// Packets received and dropped by the kernel since the last call
/// (PACKET_STATISTICS resets on read).
pub fn packet_stats(fd: i32) -> io::Result<(u64, u64)> {
    let mut st = libc::tpacket_stats {
        tp_packets: 0,
        tp_drops: 0,
    };
    let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: `st` and `len` are valid for writes of the declared size.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut st as *mut libc::tpacket_stats).cast(),
            &mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((u64::from(st.tp_packets), u64::from(st.tp_drops)))
}

/// Parses `tcpdump -ddd` output: a count line, then `code jt jf k` lines.
pub fn parse_bpf(text: &str) -> Result<Vec<BpfInsn>, String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let count: usize = lines
        .next()
        .ok_or("empty BPF program")?
        .parse()
        .map_err(|_| "first line must be the instruction count (tcpdump -ddd output)")?;
    let mut prog = Vec::with_capacity(count);
    for (i, l) in lines.enumerate() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let bad = || format!("BPF line {}: expected `code jt jf k`, got {l:?}", i + 2);
        if f.len() != 4 {
            return Err(bad());
        }
        prog.push(libc::sock_filter {
            code: f[0].parse().map_err(|_| bad())?,
            jt: f[1].parse().map_err(|_| bad())?,
            jf: f[2].parse().map_err(|_| bad())?,
            k: f[3].parse().map_err(|_| bad())?,
        });
    }
    if prog.len() != count || count == 0 {
        return Err(format!(
            "BPF program says {count} instructions but has {}",
            prog.len()
        ));
    }
    Ok(prog)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpf_text() {
        // tcpdump -ddd 'tcp'
        let p =
            parse_bpf("6\n40 0 0 12\n21 0 3 34525\n48 0 0 20\n21 0 1 6\n6 0 0 262144\n6 0 0 0\n")
                .unwrap();
        assert_eq!(p.len(), 6);
        assert_eq!((p[1].code, p[1].jt, p[1].jf, p[1].k), (21, 0, 3, 34525));
        assert!(parse_bpf("2\n40 0 0 12\n").unwrap_err().contains("says 2"));
        assert!(parse_bpf("ip and tcp").is_err());
    }
}
