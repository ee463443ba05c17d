//! A TCP proxy on loopback that black-holes the connections it has when told:
//! what a NAT or a load balancer does when it drops its state without a word.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy on loopback that can stop forwarding on the connections it has
/// (swallowing bytes both ways, closing nothing), as a NAT or load balancer does
/// when it drops its state. Connections made after that are forwarded.
pub struct StallingProxy {
    pub address: std::net::SocketAddr,
    generation: Arc<AtomicUsize>,
}

impl StallingProxy {
    pub async fn start(target: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let address = listener.local_addr().expect("an address");
        let generation = Arc::new(AtomicUsize::new(0));
        let current = Arc::clone(&generation);
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = TcpStream::connect(target).await else {
                    continue;
                };
                let born = current.load(Ordering::SeqCst);
                let (in_read, in_write) = inbound.into_split();
                let (out_read, out_write) = outbound.into_split();
                for (mut from, mut to) in
                    [(in_read, out_write), (out_read, in_write)].map(|(read, write)| (read, write))
                {
                    let current = Arc::clone(&current);
                    tokio::spawn(async move {
                        let mut buffer = vec![0u8; 16 * 1024];
                        while let Ok(read) = from.read(&mut buffer).await {
                            if read == 0 {
                                break;
                            }
                            if current.load(Ordering::SeqCst) != born {
                                continue;
                            }
                            if to.write_all(&buffer[..read]).await.is_err() {
                                break;
                            }
                        }
                    });
                }
            }
        });
        Self {
            address,
            generation,
        }
    }

    /// The open connections stop forwarding, and stay open.
    pub fn stall(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}
