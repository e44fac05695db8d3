//! Minimal HTTP/1.1 plumbing for tests that stand between the tool and its endpoint: a scripted fake endpoint and a
//! loopback proxy in front of the emulator that can be cut. Handles what the SDK sends and the emulator answers:
//! bodies framed by `Content-Length`, chunked, or (responses) by the end of the connection.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One HTTP message as read: its bytes exactly as they came (to pass them on) and its body (to look into).
pub struct Message {
    pub raw: Vec<u8>,
    pub head: String,
    pub body: Vec<u8>,
}

impl Message {
    /// The value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// The AWS operation of a request: the `Action` of a query-protocol body, or the `X-Amz-Target` of a JSON one.
    pub fn action(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        if let Some(action) = body.split('&').find_map(|pair| pair.strip_prefix("Action=")) {
            return action.to_string();
        }
        self.header("x-amz-target").and_then(|t| t.rsplit('.').next()).unwrap_or_default().to_string()
    }

    fn status(&self) -> u16 {
        self.head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
    }

    fn closes(&self) -> bool {
        self.header("connection").is_some_and(|c| c.eq_ignore_ascii_case("close"))
    }
}

/// Reads one message; `None` at a clean end of the connection. `response` selects the framing rules of responses.
pub fn read_message(reader: &mut impl BufRead, response: bool) -> io::Result<Option<Message>> {
    let Some(mut message) = read_head(reader)? else { return Ok(None) };
    let chunked = message.header("transfer-encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    let length = message.header("content-length").and_then(|l| l.parse::<usize>().ok());
    if chunked {
        loop {
            let mut line = Vec::new();
            reader.read_until(b'\n', &mut line)?;
            message.raw.extend_from_slice(&line);
            let text = String::from_utf8_lossy(&line);
            let size = usize::from_str_radix(text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {text:?}")))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    let mut trailer = Vec::new();
                    if reader.read_until(b'\n', &mut trailer)? == 0 || trailer == b"\r\n" {
                        message.raw.extend_from_slice(&trailer);
                        break;
                    }
                    message.raw.extend_from_slice(&trailer);
                }
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            message.raw.extend_from_slice(&chunk);
            message.body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = length {
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        message.raw.extend_from_slice(&body);
        message.body = body;
    } else if response && !matches!(message.status(), 100..=199 | 204 | 304) {
        reader.read_to_end(&mut message.body)?;
        message.raw.extend_from_slice(&message.body);
    }
    Ok(Some(message))
}

/// Reads one response; for a request that gets no body (HEAD), only its head.
pub fn read_response(reader: &mut impl BufRead, no_body: bool) -> io::Result<Option<Message>> {
    if no_body { read_head(reader) } else { read_message(reader, true) }
}

/// Reads a message's start line and headers, up to the empty line; `None` at a clean end of the connection.
fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Message>> {
    let mut raw = Vec::new();
    loop {
        let start = raw.len();
        if reader.read_until(b'\n', &mut raw)? == 0 {
            return if raw.is_empty() { Ok(None) } else { Err(io::ErrorKind::UnexpectedEof.into()) };
        }
        if &raw[start..] == b"\r\n" {
            break;
        }
    }
    let head = String::from_utf8_lossy(&raw).into_owned();
    Ok(Some(Message { raw, head, body: Vec::new() }))
}

/// Writes a complete response with a body.
pub fn respond(stream: &mut impl Write, status: &str, content_type: &str, body: &str) -> io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// Serves every connection to a new 127.0.0.1 port on its own thread with `handle`, one request at a time, for the
/// rest of the process; returns the endpoint URL.
pub fn serve(handle: impl Fn(&Message, &mut TcpStream) -> io::Result<()> + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handle = handle.clone();
            std::thread::spawn(move || -> io::Result<()> {
                let mut writer = stream.try_clone()?;
                let mut reader = BufReader::new(stream);
                while let Some(request) = read_message(&mut reader, false)? {
                    handle(&request, &mut writer)?;
                }
                Ok(())
            });
        }
    });
    url
}

/// A loopback proxy in front of an endpoint that passes requests on, one by one, and remembers their operations,
/// until it is cut: then every connection it holds is shut and its port is closed, so that the endpoint, as the
/// client sees it, has died. It cuts itself right after passing back the answer to a request for `cut_after`.
pub struct Proxy {
    pub url: String,
    shared: Arc<Shared>,
}

struct Shared {
    upstream: String,
    cut_after: Option<String>,
    cut: AtomicBool,
    /// Operations passed on (and answered), in order.
    actions: Mutex<Vec<String>>,
    clients: Mutex<Vec<TcpStream>>,
    address: String,
}

impl Proxy {
    /// A proxy to `upstream` (`http://host:port`), cut after the operation `cut_after` has been answered.
    pub fn start(upstream: &str, cut_after: Option<&str>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let shared = Arc::new(Shared {
            upstream: upstream.trim_start_matches("http://").trim_end_matches('/').to_string(),
            cut_after: cut_after.map(str::to_string),
            cut: AtomicBool::new(false),
            actions: Mutex::new(Vec::new()),
            clients: Mutex::new(Vec::new()),
            address: address.clone(),
        });
        let accepting = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accepting.cut.load(Ordering::SeqCst) {
                    break; // Dropping the listener closes the port: connections are refused from now on.
                }
                let Ok(stream) = stream else { continue };
                if let Ok(clone) = stream.try_clone() {
                    accepting.clients.lock().unwrap().push(clone);
                }
                let shared = accepting.clone();
                std::thread::spawn(move || shared.pass_on(stream));
            }
        });
        Proxy { url: format!("http://{address}"), shared }
    }

    /// The operations passed on so far, in order.
    pub fn actions(&self) -> Vec<String> {
        self.shared.actions.lock().unwrap().clone()
    }

    pub fn is_cut(&self) -> bool {
        self.shared.cut.load(Ordering::SeqCst)
    }

    pub fn cut(&self) {
        self.shared.cut();
    }
}

impl Shared {
    fn pass_on(&self, client: TcpStream) {
        let Ok(mut writer) = client.try_clone() else { return };
        let mut reader = BufReader::new(client);
        while let Ok(Some(request)) = read_message(&mut reader, false) {
            if self.cut.load(Ordering::SeqCst) {
                break;
            }
            let Ok(mut upstream) = TcpStream::connect(&self.upstream) else { break };
            if upstream.write_all(&request.raw).is_err() {
                break;
            }
            // A response to HEAD has the headers of a body (Content-Length) but never the body.
            let no_body = request.head.starts_with("HEAD ");
            let Ok(Some(response)) = read_response(&mut BufReader::new(upstream), no_body) else { break };
            let action = request.action();
            let last = self.cut_after.as_deref() == Some(action.as_str());
            {
                // Decided under the lock: once the cut is decided, no other answer gets through, so the operation
                // recorded last is the last one the client was answered.
                let mut actions = self.actions.lock().unwrap();
                if self.cut.load(Ordering::SeqCst) {
                    break;
                }
                if last {
                    self.cut.store(true, Ordering::SeqCst);
                }
                actions.push(action);
            }
            let delivered = writer.write_all(&response.raw).and_then(|()| writer.flush()).is_ok();
            if last {
                self.shut();
                break;
            }
            if !delivered || response.closes() {
                break;
            }
        }
        let _ = writer.shutdown(Shutdown::Both);
    }

    fn cut(&self) {
        {
            let _actions = self.actions.lock().unwrap();
            if self.cut.swap(true, Ordering::SeqCst) {
                return;
            }
        }
        self.shut();
    }

    /// Shuts every connection and wakes the accepting thread, which then drops the listener (closing the port).
    fn shut(&self) {
        for client in self.clients.lock().unwrap().drain(..) {
            let _ = client.shutdown(Shutdown::Both);
        }
        let _ = TcpStream::connect(&self.address);
    }
}
