// Labels and the plain sentences for known error codes, in English and French.
const TEXT = {
  en: {
    server: "Server", email: "E-mail", password: "Password", signin: "Sign in", choose_org: "Choose an organisation",
    available: "Available", break: "Break", offline_status: "Offline", signout: "Sign out", call: "Call next",
    call_hint: "F2 or Space", waited: "Waited", in_service: "In service", recall: "Recall", start: "Start",
    close: "Close", pause: "Pause", resume: "Resume", no_show: "No-show", transfer: "Transfer…", end: "End of line",
    front: "Front of line", by_arrival: "By arrival time", transfer_go: "Transfer", reason: "Reason",
    idle: "No ticket. Call the next customer when you are ready.", waiting_list: "Waiting", ticket: "Ticket",
    queue: "Queue", nobody: "Nobody is waiting in your queues.", offline_banner: "Server unreachable — actions are paused; the list will catch up by itself.",
    status_called: "called", status_in_service: "in service", status_paused: "paused",
  },
  fr: {
    server: "Serveur", email: "E-mail", password: "Mot de passe", signin: "Se connecter", choose_org: "Choisissez une organisation",
    available: "Disponible", break: "Pause", offline_status: "Hors ligne", signout: "Se déconnecter", call: "Appeler le suivant",
    call_hint: "F2 ou Espace", waited: "Attente", in_service: "En service", recall: "Rappeler", start: "Commencer",
    close: "Terminer", pause: "Suspendre", resume: "Reprendre", no_show: "Absent", transfer: "Transférer…", end: "En fin de file",
    front: "En tête de file", by_arrival: "Selon l'heure d'arrivée", transfer_go: "Transférer", reason: "Motif",
    idle: "Aucun ticket. Appelez le client suivant quand vous êtes prêt.", waiting_list: "En attente", ticket: "Ticket",
    queue: "File", nobody: "Personne n'attend dans vos files.", offline_banner: "Serveur injoignable — les actions sont suspendues ; la liste se remettra à jour seule.",
    status_called: "appelé", status_in_service: "en service", status_paused: "en pause",
  },
};
// French sentences for the server's codes (English comes from the console).
const PROBLEMS_FR = {
  network: "Le serveur est injoignable. Vérifiez le réseau ; la console réessaie d'elle-même.",
  invalid_credentials: "E-mail ou mot de passe incorrect.",
  not_authenticated: "Votre session est terminée : reconnectez-vous.",
  permission_denied: "Votre rôle ne permet pas cette action.",
  not_found: "Cet élément n'existe plus : quelqu'un l'a peut-être modifié.",
};
