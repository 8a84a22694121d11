//! Spoken announcements: a chime, then the sentence ("Ticket A 0 4 2, guichet 3") from a real
//! speech engine, played one after another so two calls never talk over each other.
//!
//! [`Speaker`] is the small trait in front of the engine ([`EspeakNg`] runs Debian's
//! `espeak-ng`); [`Player`] plays the result ([`Aplay`] pipes a WAV into ALSA's `aplay`).

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

/// Mono 16-bit PCM.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    pub sample_rate: u32,
    pub samples: Vec<i16>,
}

/// Why an announcement could not be rendered or played.
#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    #[error("speech engine: {0}")]
    Engine(String),
    #[error("not a WAV stream: {0}")]
    Wav(&'static str),
    #[error("audio output: {0}")]
    Output(String),
}

impl Audio {
    /// Root mean square of the samples (0 for silence).
    pub fn rms(&self) -> f64 {
        if self.samples.is_empty() {
            return 0.0;
        }
        let sum: f64 = self.samples.iter().map(|&s| f64::from(s).powi(2)).sum();
        (sum / self.samples.len() as f64).sqrt()
    }

    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate.max(1))
    }

    /// `ms` milliseconds of silence.
    pub fn silence(sample_rate: u32, ms: u32) -> Audio {
        Audio {
            sample_rate,
            samples: vec![0; (sample_rate * ms / 1000) as usize],
        }
    }

    /// Appends `other` (same sample rate).
    pub fn append(&mut self, other: &Audio) {
        self.samples.extend_from_slice(&other.samples);
    }

    /// Reads a mono 16-bit PCM WAV, including the streamed kind whose sizes are unknown
    /// (espeak-ng `--stdout`): the data runs to the end.
    pub fn from_wav(bytes: &[u8]) -> Result<Audio, SpeechError> {
        if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
            return Err(SpeechError::Wav("no RIFF/WAVE header"));
        }
        let mut at = 12;
        let mut rate = None;
        while at + 8 <= bytes.len() {
            let id = &bytes[at..at + 4];
            let len =
                u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]])
                    as usize;
            let body = at + 8;
            if id == b"fmt " {
                if body + 16 > bytes.len() {
                    return Err(SpeechError::Wav("short fmt chunk"));
                }
                let channels = u16::from_le_bytes([bytes[body + 2], bytes[body + 3]]);
                let bits = u16::from_le_bytes([bytes[body + 14], bytes[body + 15]]);
                if channels != 1 || bits != 16 {
                    return Err(SpeechError::Wav("only mono 16-bit PCM is supported"));
                }
                rate = Some(u32::from_le_bytes([
                    bytes[body + 4],
                    bytes[body + 5],
                    bytes[body + 6],
                    bytes[body + 7],
                ]));
            } else if id == b"data" {
                let end = body.saturating_add(len).min(bytes.len());
                let samples = bytes[body..end]
                    .chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect();
                return Ok(Audio {
                    sample_rate: rate.ok_or(SpeechError::Wav("data before fmt"))?,
                    samples,
                });
            }
            at = body.saturating_add(len + (len & 1));
        }
        Err(SpeechError::Wav("no data chunk"))
    }

    /// A WAV file of the samples.
    pub fn to_wav(&self) -> Vec<u8> {
        let data_len = (self.samples.len() * 2) as u32;
        let mut out = Vec::with_capacity(44 + data_len as usize);
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data_len).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes()); // PCM
        out.extend_from_slice(&1u16.to_le_bytes()); // mono
        out.extend_from_slice(&self.sample_rate.to_le_bytes());
        out.extend_from_slice(&(self.sample_rate * 2).to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        for s in &self.samples {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }
}

/// The two-tone "ding-dong" before each call (E5 then C5, each fading out).
pub fn chime(sample_rate: u32) -> Audio {
    let mut samples = Vec::new();
    for (freq, ms) in [(659.25_f64, 450_u32), (523.25, 650)] {
        let n = (sample_rate * ms / 1000) as usize;
        for i in 0..n {
            let t = i as f64 / f64::from(sample_rate);
            let fade = (-4.0 * i as f64 / n as f64).exp();
            let v = (2.0 * std::f64::consts::PI * freq * t).sin() * fade * 0.45;
            samples.push((v * f64::from(i16::MAX)) as i16);
        }
    }
    Audio {
        sample_rate,
        samples,
    }
}

/// A speech engine.
pub trait Speaker: Send {
    /// `text` spoken in `lang` (`fr`, `en`).
    fn render(&self, text: &str, lang: &str) -> Result<Audio, SpeechError>;
}

/// Debian's `espeak-ng`.
#[derive(Debug, Clone, Default)]
pub struct EspeakNg;

impl Speaker for EspeakNg {
    fn render(&self, text: &str, lang: &str) -> Result<Audio, SpeechError> {
        let voice = if lang.starts_with("fr") {
            "fr-fr"
        } else {
            "en"
        };
        let out = Command::new("espeak-ng")
            .args(["-v", voice, "-s", "140", "--stdout", "--", text])
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| SpeechError::Engine(format!("cannot run espeak-ng: {e}")))?;
        if !out.status.success() {
            return Err(SpeechError::Engine(
                String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            ));
        }
        Audio::from_wav(&out.stdout)
    }
}

/// The whole announcement: chime, a short pause, the sentence.
pub fn announcement(speaker: &dyn Speaker, text: &str, lang: &str) -> Result<Audio, SpeechError> {
    let speech = speaker.render(text, lang)?;
    let mut out = chime(speech.sample_rate);
    out.append(&Audio::silence(speech.sample_rate, 200));
    out.append(&speech);
    Ok(out)
}

/// An audio output.
pub trait Player: Send {
    fn play(&self, audio: &Audio) -> Result<(), SpeechError>;
}

/// ALSA's `aplay`, fed a WAV on its standard input.
#[derive(Debug, Clone, Default)]
pub struct Aplay;

impl Player for Aplay {
    fn play(&self, audio: &Audio) -> Result<(), SpeechError> {
        let mut child = Command::new("aplay")
            .args(["-q", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| SpeechError::Output(format!("cannot run aplay: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(&audio.to_wav())
                .map_err(|e| SpeechError::Output(e.to_string()))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| SpeechError::Output(e.to_string()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(SpeechError::Output(
                String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            ))
        }
    }
}

/// One announcement to make.
#[derive(Debug, Clone, PartialEq)]
pub struct Say {
    pub text: String,
    pub lang: String,
    /// When the call reached the app (for the latency log).
    pub received: Instant,
}

/// Announces calls one at a time on its own thread (rendering and playing block).
pub struct Announcer {
    tx: mpsc::Sender<Say>,
}

impl Announcer {
    /// Starts the worker; `started` is told each time an announcement starts playing, with the
    /// time since the call reached the app.
    pub fn start(
        speaker: Box<dyn Speaker>,
        player: Box<dyn Player>,
        started: impl Fn(&Say, std::time::Duration) + Send + 'static,
    ) -> Announcer {
        let (tx, rx) = mpsc::channel::<Say>();
        std::thread::Builder::new()
            .name("announcer".into())
            .spawn(move || {
                for say in rx {
                    match announcement(speaker.as_ref(), &say.text, &say.lang) {
                        Ok(audio) if audio.rms() < 1.0 => {
                            eprintln!("announcement \"{}\" rendered as silence", say.text);
                        }
                        Ok(audio) => {
                            started(&say, say.received.elapsed());
                            if let Err(e) = player.play(&audio) {
                                eprintln!(
                                    "announcement ({:.1} s) not played: {e}",
                                    audio.seconds()
                                );
                            }
                        }
                        Err(e) => eprintln!("announcement not rendered: {e}"),
                    }
                }
            })
            .expect("announcer thread");
        Announcer { tx }
    }

    /// Queues an announcement.
    pub fn say(&self, say: Say) {
        let _ = self.tx.send(say);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn espeak_renders_a_call_that_is_not_silence() {
        let audio = announcement(&EspeakNg, "Ticket A 0 4 2, guichet 3", "fr").expect("espeak-ng");
        // Chime (1.1 s) + pause + speech: well over two seconds of sound.
        assert!(audio.seconds() > 2.0, "{} s", audio.seconds());
        let speech_only = EspeakNg.render("Ticket A 0 4 2, guichet 3", "fr").unwrap();
        assert!(speech_only.seconds() > 1.0);
        assert!(speech_only.rms() > 300.0, "rms {}", speech_only.rms());
        let english = EspeakNg.render("Ticket A 0 4 2, counter 3", "en").unwrap();
        assert!(english.rms() > 300.0);
        // The WAV written for the player reads back the same.
        assert_eq!(Audio::from_wav(&audio.to_wav()).unwrap(), audio);
    }

    #[test]
    fn silence_is_told_apart_and_the_chime_is_audible() {
        assert_eq!(Audio::silence(22_050, 500).rms(), 0.0);
        let c = chime(22_050);
        assert!(c.rms() > 1_000.0, "{}", c.rms());
        assert!((c.seconds() - 1.1).abs() < 0.01);
        assert!(Audio::from_wav(b"not a wav").is_err());
    }
}
