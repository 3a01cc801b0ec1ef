//! Every HTTP listener runs under limits: a client that trickles its request head or body is cut
//! off at the read timeout, connections beyond the limit wait, a panicking handler answers 500 and
//! the server goes on serving, and graceful shutdown still lets requests in flight finish.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use attendance_bridge::web::listener::{self, HttpLimits};
use axum::Router;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use bridge_e2e::{Backend, TestApp};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// A small application with the routes the limits are about, served by the bridge's listener.
struct Served {
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn serve(limits: HttpLimits) -> Served {
    let router = Router::new()
        .route("/peer", get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }))
        .route("/echo", post(|body: Bytes| async move { format!("{} bytes", body.len()) }))
        .route("/slow", get(|| async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            "finished"
        }))
        .route("/panic", get(|| async {
            if std::hint::black_box(true) {
                panic!("a handler bug");
            }
            "unreachable"
        }));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = tcp.local_addr().expect("address");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(listener::serve(tcp, router, limits, async {
        let _ = stopped.await;
    }));
    Served { address, stop: Some(stop), task }
}

fn limits(header: u64, body: u64, connections: usize) -> HttpLimits {
    HttpLimits { header_timeout: Duration::from_secs(header), body_timeout: Duration::from_secs(body), max_connections: connections }
}

/// Sends `head` then `trickle` one byte every `every`, until the server closes the connection
/// (`Some(elapsed, what it answered)`) or `give_up` passes (`None`).
async fn trickle(address: SocketAddr, head: &str, trickle: &[u8], every: Duration, give_up: Duration) -> Option<(Duration, String)> {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let started = Instant::now();
    stream.write_all(head.as_bytes()).await.expect("head");
    let mut answer = Vec::new();
    let mut bytes = trickle.iter().cycle();
    while started.elapsed() < give_up {
        let mut buf = [0u8; 1024];
        match tokio::time::timeout(every, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Some((started.elapsed(), String::from_utf8_lossy(&answer).into_owned())),
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {
                let byte = *bytes.next().unwrap_or(&b'x');
                if stream.write_all(&[byte]).await.is_err() {
                    return Some((started.elapsed(), String::from_utf8_lossy(&answer).into_owned()));
                }
            }
        }
    }
    None
}

async fn get_text(address: SocketAddr, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{address}{path}")).await.expect("request");
    (response.status().as_u16(), response.text().await.expect("body"))
}

#[tokio::test]
async fn a_trickled_request_head_is_cut_off_at_the_header_timeout() {
    // The real server, configured like an operator would.
    let app = TestApp::start_with(Backend::Sqlite, |config| config.http.header_timeout_seconds = 1).await;
    let address: SocketAddr = app.base_url.trim_start_matches("http://").parse().expect("address");
    let head = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    let (elapsed, answer) = trickle(address, head, b"abcdefgh", Duration::from_millis(200), Duration::from_secs(10)).await.expect("cut off");
    println!("trickled head cut off after {elapsed:?}, answer {answer:?}");
    assert!(elapsed >= Duration::from_millis(900), "not before the timeout: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "at the timeout: {elapsed:?}");
    assert!(!answer.contains(" 200 "), "the trickled request was not served: {answer:?}");
    // A connection that sends nothing at all is closed too.
    let (elapsed, _) = trickle(address, "", b"", Duration::from_secs(5), Duration::from_secs(10)).await.expect("idle closed");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    // And the server serves everyone else meanwhile.
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.stop().await.expect("stops cleanly");
}

#[tokio::test]
async fn a_slow_body_is_cut_off_at_the_body_timeout() {
    let served = serve(limits(30, 1, 16)).await;
    let head = "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n0123456789";
    let (elapsed, answer) = trickle(served.address, head, b"abc", Duration::from_millis(200), Duration::from_secs(10)).await.expect("cut off");
    println!("slow body cut off after {elapsed:?}: {answer:?}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(4), "{elapsed:?}");
    // A body sent at once is read as before.
    let response = reqwest::Client::new().post(format!("http://{}/echo", served.address)).body(vec![7u8; 5000]).send().await.expect("post");
    assert_eq!(response.text().await.expect("text"), "5000 bytes");
    drop(served.stop);
}

#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_server_goes_on() {
    let served = serve(limits(30, 30, 16)).await;
    for _ in 0..3 {
        let (status, body) = get_text(served.address, "/panic").await;
        assert_eq!(status, 500);
        assert_eq!(body, "internal error\n", "no panic message leaks to the client");
    }
    let (status, peer) = get_text(served.address, "/peer").await;
    assert_eq!(status, 200);
    assert!(peer.starts_with("127.0.0.1:"), "handlers still see the peer address: {peer}");
    drop(served.stop);
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_their_turn() {
    let served = serve(limits(30, 30, 2)).await;
    // Two clients hold a connection each, mid-head.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(served.address).await.expect("connect");
        stream.write_all(b"GET /peer HTTP/1.1\r\n").await.expect("partial head");
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let third = tokio::spawn(get_text(served.address, "/peer"));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!third.is_finished(), "a third connection is not served while two are open");
    drop(held.pop());
    let (status, _) = tokio::time::timeout(Duration::from_secs(5), third).await.expect("served once one closed").expect("task");
    assert_eq!(status, 200);
    drop(served.stop);
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    let mut served = serve(limits(30, 30, 16)).await;
    let address = served.address;
    let slow = tokio::spawn(async move { get_text(address, "/slow").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = served.stop.take().map(|stop| stop.send(()));
    assert_eq!(slow.await.expect("task"), (200, "finished".to_owned()));
    tokio::time::timeout(Duration::from_secs(5), served.task).await.expect("serve returns").expect("task").expect("ok");
    assert!(TcpStream::connect(address).await.is_err(), "no longer listening");
}
