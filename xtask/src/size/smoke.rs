//! A measured binary must work: each is started on a free port and answers `GET /json`
//! before its size counts. (This is also the one place the HTTP/1.1-only server of the
//! `minimal` configuration serves a real request.)

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Kills the child when dropped, whatever happened.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `binary` with `ALLFRAME_ADDR` on a free port and checks its `/json` answer.
pub(crate) fn check(binary: &Path, name: &str) -> Result<()> {
    let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let child = Command::new(binary)
        .env("ALLFRAME_ADDR", addr.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let mut running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        match TcpStream::connect(addr) {
            Ok(stream) => break stream,
            Err(_) if Instant::now() < deadline => {
                if let Some(status) = running.0.try_wait()? {
                    bail!(
                        "{name}: {} exited with {status} instead of serving",
                        binary.display()
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(err) => bail!("{name}: nothing listens on {addr} after 10 s: {err}"),
        }
    };
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(b"GET /json HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .with_context(|| format!("{name}: reading the answer"))?;
    if !answer.starts_with("HTTP/1.1 200") || !answer.contains(r#"{"message":"Hello, World!"}"#) {
        bail!("{name}: `GET /json` was answered with:\n{answer}");
    }
    Ok(())
}
