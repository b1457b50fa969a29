//! A forward proxy on loopback for testing which requests go through a proxy: it answers
//! `CONNECT host:port` (HTTP) or a SOCKS5 connect to `host:port` by tunnelling to
//! `127.0.0.1:port`, whatever the host (so a test can name a registry `registry.tug.test`
//! without any name resolution), and logs every target it was asked for. Other HTTP methods
//! get `405`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// A running proxy; stopped when dropped.
pub struct ConnectProxy {
    port: u16,
    targets: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl ConnectProxy {
    /// Starts the proxy on an ephemeral loopback port.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound.
    pub fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let targets = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (t, s) = (targets.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let t = t.clone();
                thread::spawn(move || {
                    let _ = serve(conn, &t);
                });
            }
        });
        ConnectProxy {
            port,
            targets,
            stop,
        }
    }

    /// `http://127.0.0.1:PORT`, for `HTTPS_PROXY` / `HTTP_PROXY`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `socks5h://127.0.0.1:PORT`: the same proxy spoken to as SOCKS5, names resolved by
    /// the proxy.
    pub fn socks_url(&self) -> String {
        format!("socks5h://127.0.0.1:{}", self.port)
    }

    /// The `host:port` of every `CONNECT` so far, in order.
    pub fn targets(&self) -> Vec<String> {
        self.targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accepting thread so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One client connection: SOCKS5 (its first byte is 5) or an HTTP request head.
fn serve(client: TcpStream, targets: &Mutex<Vec<String>>) -> io::Result<()> {
    let mut first = [0u8; 1];
    if client.peek(&mut first)? == 1 && first[0] == 5 {
        return serve_socks(client, targets);
    }
    serve_http(client, targets)
}

/// A SOCKS5 client without authentication asking to connect.
fn serve_socks(mut client: TcpStream, targets: &Mutex<Vec<String>>) -> io::Result<()> {
    let mut head = [0u8; 2];
    client.read_exact(&mut head)?;
    let mut methods = vec![0u8; usize::from(head[1])];
    client.read_exact(&mut methods)?;
    client.write_all(&[5, 0])?;
    let mut req = [0u8; 4];
    client.read_exact(&mut req)?;
    let host = match req[3] {
        1 => {
            let mut a = [0u8; 4];
            client.read_exact(&mut a)?;
            std::net::Ipv4Addr::from(a).to_string()
        }
        3 => {
            let mut len = [0u8; 1];
            client.read_exact(&mut len)?;
            let mut name = vec![0u8; usize::from(len[0])];
            client.read_exact(&mut name)?;
            String::from_utf8_lossy(&name).into_owned()
        }
        _ => {
            let mut a = [0u8; 16];
            client.read_exact(&mut a)?;
            format!("[{}]", std::net::Ipv6Addr::from(a))
        }
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port)?;
    let port = u16::from_be_bytes(port);
    targets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(format!("{host}:{port}"));
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", port)) else {
        client.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0])?;
        return Ok(());
    };
    client.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])?;
    tunnel(client, Vec::new(), upstream)
}

/// An HTTP client: tunnel a `CONNECT`.
fn serve_http(client: TcpStream, targets: &Mutex<Vec<String>>) -> io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut client_w = client.try_clone()?;
    if method != "CONNECT" {
        client_w.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")?;
        return Ok(());
    }
    targets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(target.to_owned());
    let port: u16 = target
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(443);
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", port)) else {
        client_w.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")?;
        return Ok(());
    };
    client_w.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    // Bytes the client sent after its head are already in the reader's buffer.
    let buffered = reader.buffer().to_vec();
    tunnel(reader.into_inner(), buffered, upstream)
}

/// Moves bytes both ways between `client` and `upstream` (after `early`, bytes the client
/// already sent) until both sides are done.
fn tunnel(client: TcpStream, early: Vec<u8>, upstream: TcpStream) -> io::Result<()> {
    let mut up_w = upstream.try_clone()?;
    up_w.write_all(&early)?;
    let mut up_r = upstream;
    let mut client_w = client.try_clone()?;
    let down = thread::spawn(move || {
        let _ = io::copy(&mut up_r, &mut client_w);
        let _ = client_w.shutdown(Shutdown::Write);
    });
    let mut client_r = client;
    let _ = io::copy(&mut client_r, &mut up_w);
    let _ = up_w.shutdown(Shutdown::Write);
    let _ = down.join();
    Ok(())
}
