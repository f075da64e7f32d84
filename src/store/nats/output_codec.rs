//! How output records are stored in JetStream messages, and read back.
//!
//! One message on `iteratr-output.<session>` holds the records of one append, packed in order up
//! to [`MESSAGE_BUDGET`] bytes (a larger append becomes several messages). Each record is its
//! time (i64, little-endian), its payload length (u32, little-endian) and the payload (UTF-8).
//! Binary rather than JSON so that a message's size is exactly known: escaping could make a JSON
//! message several times larger than its payloads, and the per-session bound (see `output.rs`)
//! relies on no message holding more than [`MAX_OUTPUT_PAYLOAD`] bytes of payload.
//!
//! A record's sequence number is `stream_seq << 16 | index in the message`: increasing within the
//! subject (stream sequences are), known without any coordination between writers, and a reader
//! that resumes after `seq` starts at message `seq >> 16`.

use async_nats::HeaderMap;
use async_nats::jetstream::message::PublishMessage;

use super::codec::nonce;
use crate::store::{MAX_OUTPUT_PAYLOAD, OutputEntry};

pub(super) const OUTPUT_PREFIX: &str = "iteratr-output";
/// The subjects of every session's output; disjoint from the events stream's `iteratr.*`.
pub(super) const OUTPUT_SUBJECTS: &str = "iteratr-output.*";
const H_FORMAT: &str = "Iteratr-Output";
const H_COUNT: &str = "Iteratr-Count";
/// The format this build writes (and the only one it reads).
const FORMAT: &str = "1";
const RECORD_HEADER: usize = 12;
/// The most a message holds: one record of the largest size, with its header.
const MESSAGE_BUDGET: usize = MAX_OUTPUT_PAYLOAD + RECORD_HEADER;
/// Bits of a record's sequence number that count records within a message (at most
/// `MESSAGE_BUDGET / RECORD_HEADER` < 2^16 of them).
const INDEX_BITS: u32 = 16;

pub(super) fn output_subject(session: &str) -> String {
    format!("{OUTPUT_PREFIX}.{session}")
}

/// The record sequence number of record `index` of message `stream_seq`.
pub(super) fn record_seq(stream_seq: u64, index: usize) -> u64 {
    (stream_seq << INDEX_BITS) | index as u64
}

/// The largest sequence number a record of message `stream_seq` can have: a reader past it is
/// past the whole message.
pub(super) fn end_of_message(stream_seq: u64) -> u64 {
    (stream_seq << INDEX_BITS) | ((1 << INDEX_BITS) - 1)
}

/// The stream sequence of the message that holds record `seq`.
pub(super) fn message_of(seq: u64) -> u64 {
    seq >> INDEX_BITS
}

/// Packs records into messages of at most [`MESSAGE_BUDGET`] bytes, in order. Every payload
/// must be at most [`MAX_OUTPUT_PAYLOAD`] bytes (checked before).
pub(super) fn pack(records: &[(i64, String)]) -> Vec<Packed> {
    let mut out: Vec<Packed> = Vec::new();
    let mut current = Packed::default();
    for (at_ms, payload) in records {
        let size = RECORD_HEADER + payload.len();
        if !current.bytes.is_empty() && current.bytes.len() + size > MESSAGE_BUDGET {
            out.push(std::mem::take(&mut current).with_id());
        }
        current.bytes.extend_from_slice(&at_ms.to_le_bytes());
        let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        current.bytes.extend_from_slice(&len.to_le_bytes());
        current.bytes.extend_from_slice(payload.as_bytes());
        current.count += 1;
    }
    if current.count > 0 {
        out.push(current.with_id());
    }
    out
}

/// One message's worth of records, ready to publish (again, when an ack is lost: the message id
/// stays the same, so the server drops the second copy within its duplicate window).
#[derive(Default)]
pub(super) struct Packed {
    bytes: Vec<u8>,
    pub count: usize,
    msg_id: String,
}

impl Packed {
    fn with_id(mut self) -> Self {
        self.msg_id = format!("out:{}", nonce());
        self
    }

    pub(super) fn message(&self) -> PublishMessage {
        PublishMessage::build()
            .payload(self.bytes.clone().into())
            .header(H_FORMAT, FORMAT)
            .header(H_COUNT, self.count.to_string().as_str())
            .message_id(&self.msg_id)
    }
}

/// Why a message on an output subject cannot be read (it is skipped: output is not worth
/// stopping a watcher for).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Undecodable {
    Format(String),
    Truncated,
    NotUtf8(usize),
    Count { held: usize, said: String },
}

impl std::fmt::Display for Undecodable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undecodable::Format(v) => write!(
                f,
                "output format '{v}' is not one this build reads (a newer iteratr wrote it, or not iteratr)"
            ),
            Undecodable::Truncated => write!(f, "a record runs past the end of the message"),
            Undecodable::NotUtf8(i) => write!(f, "record {i} is not UTF-8"),
            Undecodable::Count { held, said } => {
                write!(
                    f,
                    "the message holds {held} records, its header says {said}"
                )
            }
        }
    }
}

/// The records of message `stream_seq`.
pub(super) fn decode(
    stream_seq: u64,
    headers: Option<&HeaderMap>,
    mut bytes: &[u8],
) -> Result<Vec<OutputEntry>, Undecodable> {
    let header = |name: &str| {
        headers
            .and_then(|h| h.get(name))
            .map(|v| v.as_str().to_string())
            .unwrap_or_default()
    };
    let format = header(H_FORMAT);
    if format != FORMAT {
        return Err(Undecodable::Format(format));
    }
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (Some(at), Some(len)) = (bytes.get(0..8), bytes.get(8..12)) else {
            return Err(Undecodable::Truncated);
        };
        let at_ms = i64::from_le_bytes(at.try_into().map_err(|_| Undecodable::Truncated)?);
        let len = u32::from_le_bytes(len.try_into().map_err(|_| Undecodable::Truncated)?);
        let end = RECORD_HEADER + len as usize;
        let payload = bytes
            .get(RECORD_HEADER..end)
            .ok_or(Undecodable::Truncated)?;
        let payload =
            String::from_utf8(payload.to_vec()).map_err(|_| Undecodable::NotUtf8(out.len()))?;
        out.push(OutputEntry {
            seq: record_seq(stream_seq, out.len()),
            at_ms,
            payload,
        });
        bytes = &bytes[end..];
    }
    let said = header(H_COUNT);
    if said != out.len().to_string() {
        return Err(Undecodable::Count {
            held: out.len(),
            said,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(count: usize) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(H_FORMAT, FORMAT);
        h.insert(H_COUNT, count.to_string().as_str());
        h
    }

    #[test]
    fn records_round_trip_and_pack_within_the_budget() {
        let big = "é".repeat(MAX_OUTPUT_PAYLOAD / 2);
        let records = vec![
            (1, "a".to_string()),
            (-2, String::new()),
            (3, big.clone()),
            (4, "\u{0}\"\n".to_string()),
            (5, big),
        ];
        let packed = pack(&records);
        assert_eq!(
            packed.iter().map(|p| p.count).collect::<Vec<_>>(),
            vec![2, 1, 1, 1],
            "a record of the largest size fills a message"
        );
        let mut back = Vec::new();
        for (i, p) in packed.iter().enumerate() {
            assert!(p.bytes.len() <= MESSAGE_BUDGET);
            let entries = decode(7 + i as u64, Some(&headers(p.count)), &p.bytes).unwrap();
            back.extend(entries);
        }
        let got: Vec<(i64, String)> = back.iter().map(|e| (e.at_ms, e.payload.clone())).collect();
        assert_eq!(got, records);
        assert_eq!(back[1].seq, record_seq(7, 1));
        assert!(back.windows(2).all(|w| w[0].seq < w[1].seq));
        assert_eq!(message_of(back[3].seq), 9);
        assert_eq!(end_of_message(8) + 1, record_seq(9, 0));
    }

    #[test]
    fn a_foreign_message_is_undecodable_not_a_panic() {
        assert!(matches!(
            decode(1, None, b"hello"),
            Err(Undecodable::Format(_))
        ));
        assert_eq!(
            decode(1, Some(&headers(1)), b"12345678\xff\x00\x00\x00"),
            Err(Undecodable::Truncated)
        );
        let p = pack(&[(1, "x".into())]);
        assert!(matches!(
            decode(1, Some(&headers(2)), &p[0].bytes),
            Err(Undecodable::Count { held: 1, .. })
        ));
        let _ = p[0].message();
    }
}
