//! SmartQueue display / kiosk app (library part, so the view logic and the speech pipeline are
//! tested without a window): [`app`] holds the screens, [`board`] what a display shows,
//! [`speech`] the spoken announcements, [`kiosk`] the ticket machine and [`printer`] its ESC/POS
//! printing.

pub mod app;
pub mod board;
pub mod kiosk;
pub mod printer;
pub mod speech;
