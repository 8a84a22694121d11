//! What a waiting-room screen shows and says when a ticket is called.

use serde::{Deserialize, Serialize};

/// The display block carried by `ticket.called` / `ticket.recalled` events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallDisplay {
    /// e.g. `A042`.
    pub number: String,
    /// Counter name, e.g. `Guichet 3` (None when the agent sits at no counter).
    pub counter: Option<String>,
    pub queue: String,
    /// Text to speak, French.
    pub announce_fr: String,
    /// Text to speak, English.
    pub announce_en: String,
}

/// Spells a ticket number for speech: `A042` → `A 0 4 2` (a synthesizer would otherwise read
/// "A forty-two" or "a" as a word).
pub fn spell(number: &str) -> String {
    number
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(String::from)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The sentence for `lang` (`fr` or anything else for English). A counter named only by a
/// number gets the word for counter ("guichet 3" / "counter 3"); a named one is said as is.
pub fn announcement(number: &str, counter: Option<&str>, lang: &str) -> String {
    let fr = lang.starts_with("fr");
    // "Ticket" is the same word in both languages.
    let ticket = "Ticket";
    let Some(counter) = counter.map(str::trim).filter(|c| !c.is_empty()) else {
        return format!("{ticket} {}", spell(number));
    };
    let place = if counter.chars().all(|c| c.is_ascii_digit()) {
        format!("{} {counter}", if fr { "guichet" } else { "counter" })
    } else {
        counter.to_owned()
    };
    format!("{ticket} {}, {place}", spell(number))
}

/// The display block for a call.
pub fn call_display(number: &str, counter: Option<&str>, queue: &str) -> CallDisplay {
    CallDisplay {
        number: number.to_owned(),
        counter: counter.map(str::to_owned),
        queue: queue.to_owned(),
        announce_fr: announcement(number, counter, "fr"),
        announce_en: announcement(number, counter, "en"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_spelled_and_counters_named() {
        assert_eq!(spell("A042"), "A 0 4 2");
        assert_eq!(
            announcement("A042", Some("3"), "fr"),
            "Ticket A 0 4 2, guichet 3"
        );
        assert_eq!(
            announcement("A042", Some("3"), "en"),
            "Ticket A 0 4 2, counter 3"
        );
        assert_eq!(
            announcement("B1000", Some("Guichet 7"), "fr"),
            "Ticket B 1 0 0 0, Guichet 7"
        );
        assert_eq!(announcement("C005", None, "en"), "Ticket C 0 0 5");
        let d = call_display("A042", Some("Guichet 3"), "Accounts");
        assert_eq!(
            (d.queue.as_str(), d.announce_fr.as_str()),
            ("Accounts", "Ticket A 0 4 2, Guichet 3")
        );
    }
}
