//! The one demultiplexer of a container's output as the engine sends it without a TTY
//! (logs, an exec's output): frames of an 8-byte header (stream 1 or 2, three zero
//! bytes, a big-endian length) and that many bytes, taken as they arrive, however the
//! reads split them.

/// Frames being taken apart: the header read so far, what is left of the current
/// frame's body, and the stream it belongs to (0 for stdout, 1 for stderr).
#[derive(Debug, Default)]
pub(crate) struct Frames {
    header: Vec<u8>,
    left: usize,
    stream: usize,
}

impl Frames {
    /// Feeds `bytes`; `part` gets each piece of a frame's body with its stream and whether
    /// the piece ends its frame, until it returns true, which is returned.
    pub(crate) fn feed(&mut self, mut bytes: &[u8], part: &mut impl FnMut(usize, &[u8], bool) -> bool) -> bool {
        while !bytes.is_empty() {
            if self.left == 0 {
                let take = (8 - self.header.len()).min(bytes.len());
                self.header.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                if let [kind, _, _, _, a, b, c, d] = self.header[..] {
                    self.stream = usize::from(kind == 2);
                    self.left = u32::from_be_bytes([a, b, c, d]) as usize;
                    self.header.clear();
                }
                continue;
            }
            let take = self.left.min(bytes.len());
            self.left -= take;
            if part(self.stream, &bytes[..take], self.left == 0) {
                return true;
            }
            bytes = &bytes[take..];
        }
        false
    }
}

/// The two streams of a whole framed output, each kept to its last `keep` bytes. A frame
/// cut short (its header claiming more than there is) is dropped: the reading ends there.
pub(crate) fn split(raw: &[u8], keep: usize) -> (Vec<u8>, Vec<u8>) {
    let mut streams = (Vec::new(), Vec::new());
    let mut frame = Vec::new();
    Frames::default().feed(raw, &mut |stream, bytes, ends| {
        frame.extend_from_slice(bytes);
        if ends {
            let out = if stream == 0 { &mut streams.0 } else { &mut streams.1 };
            out.append(&mut frame);
            if out.len() > 2 * keep {
                out.drain(..out.len() - keep);
            }
        }
        false
    });
    let tail = |mut bytes: Vec<u8>| bytes.split_off(bytes.len().saturating_sub(keep));
    (tail(streams.0), tail(streams.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u8, text: &[u8]) -> Vec<u8> {
        let mut out = vec![stream, 0, 0, 0];
        out.extend_from_slice(&(text.len() as u32).to_be_bytes());
        out.extend_from_slice(text);
        out
    }

    #[test]
    fn frames_come_apart_however_the_reads_split_them() {
        let raw = [frame(1, b"out one\n"), frame(2, b"err\n"), frame(1, b"out two")].concat();
        for cut in 0..raw.len() {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let mut frames = Frames::default();
            let mut part = |stream: usize, bytes: &[u8], _: bool| {
                if stream == 0 {
                    out.extend_from_slice(bytes)
                } else {
                    err.extend_from_slice(bytes)
                }
                false
            };
            frames.feed(&raw[..cut], &mut part);
            frames.feed(&raw[cut..], &mut part);
            assert_eq!((&out[..], &err[..]), (&b"out one\nout two"[..], &b"err\n"[..]), "cut at {cut}");
        }
        assert_eq!(split(&raw, 4), (b" two".to_vec(), b"err\n".to_vec()));
    }
}
