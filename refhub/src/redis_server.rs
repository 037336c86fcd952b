//! A real `redis-server` for tests and embedded clusters: started on a free loopback port in a
//! temporary directory, with persistence off, and stopped (killed and waited on) when the
//! [`RedisServer`] is dropped, so no process outlives its owner.
//!
//! Public and free of test-only dependencies so that refhub's tests and the conformance crate
//! can both use it. A machine without `redis-server` gets a [`RedisServerError::NotInstalled`]
//! that says what to install: a backplane test fails, it never passes without Redis.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;

/// How long a fresh server has to answer PING.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a `redis-server` could not be had.
#[derive(Debug, Error)]
pub enum RedisServerError {
    /// The binary is not on `PATH`.
    #[error("redis-server is not installed: install Debian's package (`apt-get install -y redis-server`), which .ci/run installs too")]
    NotInstalled,
    /// Starting it, or preparing its directory, failed.
    #[error("cannot start redis-server: {0}")]
    Io(#[from] std::io::Error),
    /// It did not answer PING in time (its log is quoted).
    #[error("redis-server on port {port} did not answer PING within {after:?}; its log:\n{log}")]
    NotReady {
        /// The port it was given.
        port: u16,
        /// How long we waited.
        after: Duration,
        /// The server's log file, as far as it was written.
        log: String,
    },
}

/// A running `redis-server`, ended on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts `redis-server --bind 127.0.0.1 --port <free> --save "" --appendonly no
    /// --daemonize no` in a fresh temporary directory and waits (at most [`START_TIMEOUT`])
    /// until it answers PING.
    pub fn start() -> Result<RedisServer, RedisServerError> {
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!(
            "hubspec-redis-{}-{port}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir)?;
        let spawned = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(RedisServerError::NotInstalled);
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e.into());
            }
        };
        let server = RedisServer { child, port, dir };
        server.wait_ready()?;
        Ok(server)
    }

    /// The port it listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_ready(&self) -> Result<(), RedisServerError> {
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if ping(self.port).unwrap_or(false) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(RedisServerError::NotReady {
            port: self.port,
            after: START_TIMEOUT,
            log: std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default(),
        })
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port nothing listens on now (the OS's pick for port 0, released at once).
fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Whether the server on `port` answers an inline `PING` with `+PONG`, within 1 s.
fn ping(port: u16) -> std::io::Result<bool> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    stream.write_all(b"PING\r\n")?;
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply)?;
    Ok(&reply == b"+PONG\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_server_answers_ping_and_is_gone_after_drop() {
        let server = RedisServer::start().expect("redis-server starts");
        let port = server.port();
        assert!(ping(port).expect("PING"));
        assert!(server.url().ends_with(&format!(":{port}")));
        let pid = server.pid();
        drop(server);
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "redis-server {pid} outlived its RedisServer"
        );
        assert!(ping(port).is_err(), "nothing listens on {port} any more");
    }
}
