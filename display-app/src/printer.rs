//! ESC/POS thermal printing of kiosk tickets, over TCP (`tcp://host:9100`, the printers'
//! raw port) or to a device file (`/dev/usb/lp0`). The QR code is printed by the printer's
//! own QR command (`GS ( k`), so no image is rasterised here.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// What goes on the paper.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketSlip {
    /// Tenant / branch name at the top.
    pub header: String,
    pub number: String,
    pub service: String,
    /// "Position 4 · attente ≈ 12 min" (already in the kiosk's language).
    pub details: Vec<String>,
    /// The tracking page the QR code opens.
    pub url: String,
    /// Date and time, local.
    pub issued: String,
}

/// Why printing failed.
#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    #[error("no printer configured")]
    NoPrinter,
    #[error("printer address {0} is not tcp://host:port or a device path")]
    BadTarget(String),
    #[error("printer unreachable: {0}")]
    Io(#[from] std::io::Error),
}

const ESC: u8 = 0x1b;
const GS: u8 = 0x1d;

/// Thermal printers' built-in fonts are reliably ASCII only: accents are folded.
fn ascii(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'à' | 'â' | 'ä' => 'a',
            'À' | 'Â' | 'Ä' => 'A',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'É' | 'È' | 'Ê' | 'Ë' => 'E',
            'î' | 'ï' => 'i',
            'Î' | 'Ï' => 'I',
            'ô' | 'ö' => 'o',
            'Ô' | 'Ö' => 'O',
            'ù' | 'û' | 'ü' => 'u',
            'Ù' | 'Û' | 'Ü' => 'U',
            'ç' => 'c',
            'Ç' => 'C',
            '≈' => '~',
            '·' | '—' | '–' => '-',
            c if c.is_ascii() && !c.is_ascii_control() => c,
            _ => '?',
        })
        .collect()
}

fn line(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(ascii(text).as_bytes());
    out.push(b'\n');
}

/// The ESC/POS byte stream of a slip.
pub fn escpos(slip: &TicketSlip) -> Vec<u8> {
    let mut out = vec![ESC, b'@']; // initialise
    out.extend_from_slice(&[ESC, b'a', 1]); // centre
    out.extend_from_slice(&[ESC, b'E', 1]); // bold
    line(&mut out, &slip.header);
    out.extend_from_slice(&[ESC, b'E', 0]);
    out.push(b'\n');
    out.extend_from_slice(&[GS, b'!', 0x33]); // 4x width and height
    line(&mut out, &slip.number);
    out.extend_from_slice(&[GS, b'!', 0x00]);
    out.push(b'\n');
    out.extend_from_slice(&[GS, b'!', 0x01]); // double height
    line(&mut out, &slip.service);
    out.extend_from_slice(&[GS, b'!', 0x00]);
    for d in &slip.details {
        line(&mut out, d);
    }
    out.push(b'\n');
    // QR code: model 2, module size 6, error correction M, store, print.
    let data = slip.url.as_bytes();
    let len = data.len() + 3;
    out.extend_from_slice(&[GS, b'(', b'k', 4, 0, 0x31, 0x41, 0x32, 0]);
    out.extend_from_slice(&[GS, b'(', b'k', 3, 0, 0x31, 0x43, 6]);
    out.extend_from_slice(&[GS, b'(', b'k', 3, 0, 0x31, 0x45, 0x31]);
    out.extend_from_slice(&[
        GS,
        b'(',
        b'k',
        (len & 0xff) as u8,
        (len >> 8) as u8,
        0x31,
        0x50,
        0x30,
    ]);
    out.extend_from_slice(data);
    out.extend_from_slice(&[GS, b'(', b'k', 3, 0, 0x31, 0x51, 0x30]);
    out.push(b'\n');
    line(&mut out, &slip.issued);
    out.extend_from_slice(&[ESC, b'd', 4]); // feed 4 lines
    out.extend_from_slice(&[GS, b'V', 66, 0]); // partial cut
    out
}

/// Sends `bytes` to `target` (`tcp://host:port` or a device path).
pub fn send(target: Option<&str>, bytes: &[u8]) -> Result<(), PrintError> {
    let target = target
        .filter(|t| !t.is_empty())
        .ok_or(PrintError::NoPrinter)?;
    if let Some(addr) = target.strip_prefix("tcp://") {
        let sock = addr
            .to_socket_addrs()
            .map_err(|_| PrintError::BadTarget(target.into()))?
            .next()
            .ok_or_else(|| PrintError::BadTarget(target.into()))?;
        let mut s = TcpStream::connect_timeout(&sock, Duration::from_secs(2))?;
        s.set_write_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(bytes)?;
        s.flush()?;
        return Ok(());
    }
    if target.starts_with('/') {
        let mut f = std::fs::OpenOptions::new().write(true).open(target)?;
        f.write_all(bytes)?;
        f.flush()?;
        return Ok(());
    }
    Err(PrintError::BadTarget(target.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn slip() -> TicketSlip {
        TicketSlip {
            header: "Demo Bank — Agence Opéra".into(),
            number: "K5001".into(),
            service: "Cartes".into(),
            details: vec!["Position 4 · attente ≈ 12 min".into()],
            url: "http://127.0.0.1:8000/t/demo-bank/abcdef".into(),
            issued: "25/11/2026 14:05".into(),
        }
    }

    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }

    #[test]
    fn a_ticket_reaches_a_network_printer_as_escpos_with_its_qr_code() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let printer = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            got
        });
        send(Some(&format!("tcp://127.0.0.1:{port}")), &escpos(&slip())).unwrap();
        let got = printer.join().unwrap();
        assert_eq!(
            &got[..2],
            &[ESC, b'@'],
            "starts by initialising the printer"
        );
        let big = find(&got, &[GS, b'!', 0x33]).expect("large type");
        assert!(
            find(&got, b"K5001").is_some_and(|n| n > big),
            "number in large type"
        );
        assert!(
            find(&got, b"Demo Bank - Agence Opera").is_some(),
            "header folded to ASCII"
        );
        assert!(find(&got, b"Position 4 - attente ~ 12 min").is_some());
        let url = b"http://127.0.0.1:8000/t/demo-bank/abcdef";
        let store = find(
            &got,
            &[GS, b'(', b'k', (url.len() + 3) as u8, 0, 0x31, 0x50, 0x30],
        )
        .expect("QR store command with the URL's length");
        assert_eq!(&got[store + 8..store + 8 + url.len()], url);
        assert!(find(&got, &[GS, b'(', b'k', 3, 0, 0x31, 0x51, 0x30]).is_some_and(|p| p > store));
        assert!(got.ends_with(&[GS, b'V', 66, 0]), "ends with a cut");
    }

    #[test]
    fn an_absent_printer_is_an_error_not_a_hang() {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        assert!(matches!(
            send(Some(&format!("tcp://127.0.0.1:{port}")), b"x"),
            Err(PrintError::Io(_))
        ));
        assert!(matches!(send(None, b"x"), Err(PrintError::NoPrinter)));
        assert!(matches!(
            send(Some("lpt1"), b"x"),
            Err(PrintError::BadTarget(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("lp0");
        std::fs::write(&dev, b"").unwrap();
        send(Some(dev.to_str().unwrap()), &escpos(&slip())).unwrap();
        assert!(std::fs::read(&dev).unwrap().starts_with(&[ESC, b'@']));
    }
}
