//! The memory-poisoning families of the English rules, in Chinese (simplified and traditional),
//! Spanish, German, French, Japanese and Portuguese.
//!
//! The patterns see text as [`super::normalise::normalise_lines`] leaves it: lowercase, accents on Latin
//! letters dropped (`é` is `e`, `ü` is `u`, `ç` is `c`; `ß` stays), full-width forms made plain, no
//! spaces between CJK characters. A space in a pattern here also matches a line break (see
//! [`spaces_match_line_breaks`]), so a phrase split over lines still matches while a pattern can
//! still ask for the start of a line.
//!
//! In the European languages an informal imperative often reads like a statement about someone
//! ("ignora las instrucciones" is also "she ignores the instructions"), so the imperative
//! patterns want the verb to open a clause: at the start of a line, after punctuation, or after
//! words such as "please", "now", "and". A note about what someone else ignored passes.

use super::poison::Scope;

/// Clause openers: line start or punctuation, then up to three connecting words.
fn clause(connectors: &str) -> String {
    format!(r#"(?:(?m:^)|[.!?,;:¡¿()\[\]\-–—"'«»*>•] ?)(?:(?:{connectors}),? ){{0,3}}"#)
}

// ---------------------------------------------------------------------------------------------
// German
// ---------------------------------------------------------------------------------------------

const DE_CONNECTORS: &str =
    "und|dann|jetzt|nun|bitte|also|einfach|sofort|ab sofort|ab jetzt|ok|okay|achtung|wichtig|hinweis";
const DE_IGNORE: &str = "ignoriere|ignorier|ignorieren sie|ignoriert alle|vergiss|vergiß|vergesst|vergessen sie|missachte|missachten sie|verwirf|verwerft|verwerfen sie|uberschreibe|uberschreib|ubergehe|ubergeh|umgehe|umgeh|setze|setzen sie|hebe|heben sie";
const DE_FILLER: &str = "alle|allen|alles|die|der|den|das|dem|deine|deinen|deiner|deines|ihre|ihren|ihrer|eure|euren|diese|diesen|dieser|jegliche|jede|jeden|jeder|samtliche|samtlichen|bisher|bisherigen|gegebenen|erhaltenen|vorherigen|vorigen|fruheren|obigen|ursprunglichen|bitte|einfach|sofort|jetzt|nun|mal|und|oder|von|vom|dir|ihnen|gesagten|system|bestehenden|aktuellen|alten";
const DE_QUALIFIER: &str = "alle|allen|samtliche|samtlichen|jegliche|vorherigen?|vorige[nr]?|bisherigen?|fruheren?|obigen?|vorangegangenen?|vorausgegangenen?|ursprunglichen?|anfanglichen?|deine[nrs]?|ihre[nr]?|eure[nr]?|bestehenden?|aktuellen?|alten?|system";
const DE_RULES: &str = r"(?:system|sicherheits)?(?:anweisung|instruktion|regel|richtlinie|vorgabe|befehl|einschrankung|beschrankung|vorschrift|direktive|prompt|leitlinie|programmierung)(?:en|n|e|s)?";
const DE_TOOLS: &str = r"shell|terminal|bash|befehle?|kommandos?|kommandozeile|code|skripte?|werkzeuge?|tools?|alle tools|dateisystem|dateien|internet|netzwerk|sudo|root|eval|file_write|web_fetch|web_search|schedule_task|install_skill|load_extension|skills?|erweiterungen|plugins?";
const DE_SECRETS: &str = r"geheimnisse?|zugangsdaten|anmeldedaten|passworter|passwort|passwortern|kennworter|kennwort|(?:api|zugangs|private[nrs]?|geheime[nrs]?|ssh)[- ]?schlussel|schlussel|tokens?|umgebungsvariablen|cookies?|sitzungs-?ids?|systemprompt|chatverlauf|gesprachsverlauf";
const DE_TARGET_WORDS: &str =
    "url|adresse|e-?mail(?:-?adresse)?|webseite|website|seite|server|domain|webhook|endpunkt|link|postfach";

fn german() -> Vec<(&'static str, Scope, String)> {
    let cs = clause(DE_CONNECTORS);
    vec![
        (
            "ignore_previous_instructions",
            Scope::Lines,
            [
                // "Vergiss alle vorherigen Anweisungen", "Ignorieren Sie bitte Ihre bisherigen Regeln".
                format!(r"{cs}(?:{DE_IGNORE})\b(?: (?:{DE_FILLER})){{0,4}} (?:{DE_QUALIFIER})(?: (?:{DE_FILLER})){{0,3}} {DE_RULES}\b"),
                // "Alle vorherigen Anweisungen ignorieren!" (the infinitive as a command).
                format!(r"{cs}(?:(?:{DE_FILLER}) ){{0,3}}(?:{DE_QUALIFIER}) (?:(?:{DE_FILLER}) ){{0,2}}{DE_RULES} (?:ab sofort |sofort |jetzt |bitte )?(?:ignorieren|vergessen|missachten|verwerfen)(?:(?m:$)|[.!,;:]| und\b)"),
                // "Vergiss alles, was dir bisher gesagt wurde", "Ignoriere alles oben".
                format!(r"{cs}(?:vergiss|vergiß|vergesst|vergessen sie|ignoriere|ignorier|ignorieren sie|missachte)(?: bitte| einfach| jetzt)* alles,? (?:(?:was|das) (?:dir|ihnen|euch|du|man) (?:\S+ ){{0,2}}(?:gesagt|mitgeteilt|befohlen|aufgetragen|erklart|gegeben|vorgegeben|beigebracht)|(?:oben|obige|davor|bisher|bisherige|zuvor|vorher|bis hierhin|bis jetzt)(?:(?m:$)|[.,;:!)]| und\b| gesagte))"),
            ]
            .join("|"),
        ),
        (
            "tool_permission_escalation",
            Scope::Lines,
            [
                format!(r"\b(?:du darfst|sie durfen|ihr durft|du bist (?:jetzt |nun |ab sofort |hiermit )?(?:berechtigt|befugt|autorisiert)|sie sind (?:jetzt |nun |ab sofort |hiermit )?(?:berechtigt|befugt|autorisiert)|du hast (?:jetzt |nun )?(?:die )?(?:erlaubnis|berechtigung))\b(?: \S+){{0,3}}? (?:{DE_TOOLS}|genehmigungen|freigaben|berechtigungen)\b(?: \S+){{0,2}}? (?:zu )?(?:benutzen|nutzen|verwenden|ausfuhren|aufrufen|starten|installieren|laden|umgehen|ignorieren)\b"),
                r"\b(?:du hast|sie haben|du besitzt)(?: jetzt| nun| ab sofort)? (?:volle |uneingeschrankte |vollen |uneingeschrankten )?(?:root|sudo|admin|administrator)[- ]?(?:rechte|zugriff|berechtigungen|privilegien)\b".to_owned(),
                format!(r"\b(?:genehmigung|erlaubnis|freigabe|berechtigung|autorisierung) (?:wurde |ist |wird )?(?:erteilt|gegeben|genehmigt|bestatigt)\b[^.!?\n]{{0,60}}?\b(?:{DE_TOOLS}|ausfuhren|ohne|nicht mehr (?:fragen|nachfragen))\b"),
                r"\b(?:admin|administrator|root|sudo|system|entwickler|betreiber|eigentumer)[- ]?(?:override|uberschreibung|umgehung)\b".to_owned(),
                r"\b(?:aktiviere|aktivieren sie|wechsle in den|wechsel in den|wechseln sie in den|schalte|schalten sie|starte|entsperre|betritt)(?: den| die)? (?:dan|gott|jailbreak|uneingeschrankten|ungefilterten|unzensierten|sudo|root|admin)[- ]?modus\b|\b(?:dan|gott|jailbreak|sudo|root|admin)[- ]?modus (?:aktivieren|einschalten|an)\b".to_owned(),
                r"\b(?:umgehe|umgehen sie|uberspringe|uberspringen sie|ignoriere|ignorieren sie|deaktiviere|deaktivieren sie|schalte)(?: die| den| das| alle| jede| jegliche| deine)? (?:genehmigung(?:en)?|freigabe(?:n)?|berechtigung(?:en)?|sandbox|allowlist|whitelist|(?:sicherheits|tool|werkzeug)(?:prufung(?:en)?|checks?|filter|regeln|richtlinien|sperren?|beschrankungen))\b".to_owned(),
                r"\bohne (?:(?:vorher |erst |vorherige )?(?:um|nach|auf) (?:eine |die )?(?:genehmigung|erlaubnis|freigabe|zustimmung|autorisierung) zu (?:fragen|bitten|warten)|(?:eine |die )?(?:genehmigung|erlaubnis|freigabe|zustimmung|autorisierung) (?:einzuholen|anzufordern|abzuwarten))\b".to_owned(),
            ]
            .join("|"),
        ),
        (
            "role_change",
            Scope::Lines,
            [
                r"\b(?:neue[rsn]?|aktualisierte[rsn]?|echte[rsn]?|wahre[rsn]?|geheime[rsn]?|versteckte[rsn]?) (?:system-?prompts?|system-?anweisung(?:en)?|system-?nachricht(?:en)?|system-?instruktion(?:en)?|system-?vorgaben?)\b".to_owned(),
                r"\b(?:deine|ihre|eure|dein|ihr) (?:neue[nr]?|wahre[nr]?|echte[nr]?|eigentliche[nr]?|tatsachliche[nr]?) (?:anweisungen?|regeln?|rolle|aufgabe|identitat|persona|befehle|programmierung|ziel|zweck) (?:ist|sind|lauten|lautet)\b".to_owned(),
                r"\b(?:du bist|sie sind|ihr seid) (?:jetzt|nun|ab (?:jetzt|sofort)|von nun an|ab heute) (?:ein|eine|der|die|das|mein|meine|kein|keine|nicht mehr|frei|befreit|uneingeschrankt|ungefiltert|unzensiert|dan|im \w*modus|in \w*modus)\b".to_owned(),
                r"\b(?:ab jetzt|ab sofort|von nun an|von jetzt an),? (?:bist du|sind sie|handelst du|verhaltst du dich|agierst du|antwortest du als|gibt es fur dich keine|hast du keine|ignorierst du|befolgst du keine|tu so|tust du so)\b".to_owned(),
                r"\b(?:tu|tue|tun sie|verhalte dich|verhalten sie sich|antworte|antworten sie|handle|agiere)(?: so)?,? (?:als ob|als wenn|wie wenn) (?:du|sie|es) (?:keine|kein) (?:regeln|einschrankungen|grenzen|filter|richtlinien|anweisungen|beschrankungen|zensur)\b|\bals (?:hattest|hatten) (?:du|sie) keine (?:regeln|einschrankungen|grenzen|filter|richtlinien|anweisungen|beschrankungen)\b".to_owned(),
                r"\b(?:gib dich als|gebe dich als|geben sie sich als|spiele? die rolle (?:eines|einer|des|der)|verhalte dich wie|agiere als|handle als|tu so,? als (?:ob )?(?:du|sie) (?:ein|eine|einen|der|die)? ?(?:warst|waren|seist|bist))(?: (?:ein|eine|einen|einer|der|die|das|den))? (?:uneingeschrankte[rsn]? |ungefilterte[rsn]? |unzensierte[rsn]? |bose[rsn]? |boswillige[rsn]? )?(?:ki |assistent |modell )?(?:ohne (?:regeln|einschrankungen|filter|zensur)|ki ohne|root|superuser|dan|admin(?:istrator)?|entwickler|system|andere ki|jailbreak|ungefiltert|uneingeschrankt|unzensiert)".to_owned(),
            ]
            .join("|"),
        ),
        (
            "secret_exfiltration",
            Scope::Lines,
            [
                format!(r"\b(?:sende|senden sie|sendet|schick|schicke|schicken sie|poste|posten sie|ubertrage|ubermittle|leite|maile|teile|kopiere|exfiltriere|veroffentliche|lade|verschicke|versende|melde)\b[^.!?\n]{{0,80}}?\b(?:{DE_SECRETS})\b[^.!?\n]{{0,120}}?\b(?:an|zu|nach|auf|uber|via|per|in)\b\s*{}", target(DE_TARGET_WORDS, "diese|die folgende|folgende|meine|unsere|eine|externe|den folgenden|dieser|folgenden")),
                format!(r"\b(?:fuge|fugen sie|hange|hangen sie|schreibe|schreiben sie|setze|bette|gib)\b[^.!?\n]{{0,40}}?\b(?:{DE_SECRETS})\b[^.!?\n]{{0,40}}?\b(?:in|an|unter) (?:jede|jeder|jeden|alle|allen|deine|deiner|deinen) (?:antwort(?:en)?|nachricht(?:en)?|ausgabe(?:n)?)\b"),
            ]
            .join("|"),
        ),
        (
            "prompt_exfiltration",
            Scope::Lines,
            r"\b(?:zeige?|zeigen sie|gib|geben sie|nenne|verrate|verraten sie|wiederhole|wiederholen sie|drucke|schreibe|offenbare|enthulle|teile|kopiere|sag|sage|sagen sie|liste)\b(?: (?:mir|uns|bitte|deinen|deine|dein|ihren|ihre|den|die|das|gesamten|ganzen|vollstandigen|kompletten|exakten|genauen|ursprunglichen|originalen|versteckten|geheimen|aktuellen|wortlich|wortwortlich|aus)){0,5} (?:system-?prompt|system-?nachricht|system-?anweisungen|initialen anweisungen|anfangsanweisungen|ursprunglichen anweisungen|versteckten anweisungen|geheimen anweisungen|anweisungen,? die (?:du|sie) (?:erhalten|bekommen) (?:hast|haben)|(?:deine|ihre) (?:anweisungen|regeln|prompt) (?:wortlich|wortwortlich))\b".to_owned(),
        ),
        (
            "hidden_role_marker",
            Scope::Lines,
            r"(?m:^(?:system|entwickler) ?: ?(?:du\b|dein|ignoriere|vergiss|missachte|ab (?:jetzt|sofort)|von nun an|neue (?:regeln|anweisungen)|immer\b|niemals\b|nie\b|du musst|du darfst))|(?m:^#{2,6} ?(?:systemprompt|system-prompt|systemnachricht|systemanweisungen?)\s*:?\s*$)".to_owned(),
        ),
    ]
}

/// Where an exfiltration sends things: a URL, an e-mail address, a domain, or words for one.
fn target(words: &str, determiners: &str) -> String {
    format!(
        r"(?:<)?(?:https?://|www\.|[\w.+-]+@[\w-]+\.\w|(?:(?:{determiners}) )(?:{words})\b|[\w-]+\.(?:com|net|org|io|ru|cn|xyz|top|site|app|dev)\b)"
    )
}

// ---------------------------------------------------------------------------------------------
// Spanish
// ---------------------------------------------------------------------------------------------

const ES_CONNECTORS: &str = "y|e|entonces|ahora|luego|despues|pues|asi que|por favor|porfa|simplemente|solo|ya|tambien|ademas|primero|ok|vale|importante|nota|atencion";
const ES_IGNORE: &str = "ignora|ignoren|ignorad|ignorar|olvida|olviden|olvidad|olvidar|olvidate|olvidese|olvidense|descarta|descarten|desatiende|desestima|omite|omitan|pasa por alto|pasen por alto|haz caso omiso (?:a|de)|no hagas caso (?:a|de)|anula|anulen|salta|saltate|deja de lado|deja de seguir|deja de obedecer|ya no sigas|no sigas";
const ES_FILLER: &str = "todas|todos|toda|todo|las|los|la|el|lo|tus|sus|mis|de|del|a|al|y|o|u|estas|esas|esos|estos|aquellas|cualquier|cualquiera|que|te|se|le|han|hayan|fueron|sido|dado|dadas|dados|dieron|recibiste|recibidas|anteriores|previas|previos|ahora|mismo";
const ES_QUALIFIER: &str = "todas|todos|anteriores?|previas?|previos?|precedentes?|originales?|iniciales?|antiguas?|antiguos?|tus|sus|del sistema|de sistema|de seguridad|existentes?|actuales?|del desarrollador|de arriba|anteriormente|antes";
const ES_RULES: &str = "instrucciones|instruccion|reglas?|normas?|directrices|directriz|directivas?|indicaciones|indicacion|ordenes|orden|pautas?|restricciones|politicas?|prompts?|programacion|limitaciones|consignas?|lineamientos";
const ES_TOOLS: &str = "shell|terminal|consola|bash|comandos?|linea de comandos|codigo|scripts?|herramientas?|cualquier herramienta|todas las herramientas|sistema de archivos|archivos|internet|red|sudo|root|eval|file_write|web_fetch|web_search|schedule_task|install_skill|load_extension|skills?|habilidades|extensiones|plugins?|complementos";
const ES_SECRETS: &str = r"secretos?|credenciales|contrasenas?|(?:claves?|llaves?)(?: de (?:la )?(?:api|acceso|ssh)| privadas?| secretas?| api)?|tokens?|variables de entorno|cookies?|ids? de sesion|prompt del sistema|historial (?:de|del) (?:chat|conversacion)|api[ _-]?keys?";
const ES_TARGET_WORDS: &str = "url|direccion(?: de correo(?: electronico)?)?|correo(?: electronico)?|e-?mail|pagina|sitio(?: web)?|web|servidor|dominio|webhook|enlace|endpoint";

fn spanish() -> Vec<(&'static str, Scope, String)> {
    let cs = clause(ES_CONNECTORS);
    vec![
        (
            "ignore_previous_instructions",
            Scope::Lines,
            [
                // "Olvida todas las instrucciones anteriores", "Ignora tus reglas previas".
                format!(r"{cs}(?:{ES_IGNORE})\b(?: (?:{ES_FILLER})){{0,4}} (?:{ES_QUALIFIER})(?: (?:{ES_FILLER})){{0,3}} (?:{ES_RULES})\b"),
                format!(r"{cs}(?:{ES_IGNORE})\b(?: (?:{ES_FILLER})){{0,3}} (?:{ES_RULES})(?: (?:{ES_FILLER})){{0,3}} (?:{ES_QUALIFIER})\b"),
                // "Olvida todo lo anterior", "ignora todo lo que te dijeron".
                format!(r"{cs}(?:{ES_IGNORE}) (?:todo|todas las cosas|cuanto) (?:lo )?(?:(?:anterior|de arriba|de antes|previo|dicho)(?:(?m:$)|[.,;:!)]| y\b| e\b)|que (?:te |se te |le )?(?:han |hayan |habian )?(?:dicho|dijeron|indicado|indicaron|ordenado|ordenaron|ensenado|ensenaron|dado|dieron|pedido|pidieron))"),
            ]
            .join("|"),
        ),
        (
            "tool_permission_escalation",
            Scope::Lines,
            [
                format!(r"\b(?:(?:ahora |ya )?(?:tienes|tiene|tienen) (?:permiso|autorizacion|acceso)(?: total| completo| pleno)? (?:para|a|de)|(?:ahora |ya )?(?:estas|esta|estan) (?:autorizad[oa]s?|permitid[oa]s?|habilitad[oa]s?) (?:para|a)|(?:ahora |ya )?(?:se te permite|se le permite|te esta permitido|te permito))(?: \S+)?? (?:usar|utilizar|ejecutar|correr|llamar|invocar|acceder a|instalar|cargar|saltarte|omitir|ignorar|evitar)(?: el| la| los| las| cualquier| todas? las?| todos? los?)? (?:{ES_TOOLS}|aprobaciones|permisos)\b"),
                r"\b(?:tienes|tiene|ahora tienes|ya tienes) (?:acceso|permisos?|privilegios|derechos) (?:de |como )?(?:root|sudo|administrador|admin|superusuario)\b".to_owned(),
                format!(r"\b(?:aprobacion|permiso|autorizacion) (?:ha sido |fue |esta |queda )?(?:concedid[oa]|otorgad[oa]|dad[oa]|aprobad[oa]|confirmad[oa])\b[^.!?\n]{{0,60}}?\b(?:{ES_TOOLS}|ejecutar|sin (?:preguntar|pedir|necesidad))\b"),
                r"\b(?:anulacion|sobrescritura|omision|override) (?:de |del )?(?:administrador|admin|root|sistema|desarrollador|operador)\b|\bmodo (?:de )?anulacion\b".to_owned(),
                r"\b(?:activa|active|activar|entra en|entra al|pasa a|pasate a|cambia a|enciende|desbloquea|habilita)(?: el)? modo (?:dan|dios|jailbreak|sin restricciones|sin filtros|sin censura|sudo|root|admin|administrador)\b".to_owned(),
                r"\b(?:omite|evita|salta|saltate|desactiva|ignora|elude|sortea|burla)(?: la| las| el| los| cualquier| toda| todas| tus| todos)? (?:aprobacion(?:es)?|permisos?|autorizacion(?:es)?|sandbox|lista blanca|lista de permitidos|(?:comprobaciones|controles|verificaciones|filtros|restricciones|reglas|politicas) de (?:seguridad|herramientas))\b".to_owned(),
                r"\bsin (?:pedir|solicitar|esperar|necesitar|requerir|obtener|preguntar por)(?: la| una| ninguna| el| su| tu)? (?:aprobacion|permiso|autorizacion)\b".to_owned(),
            ]
            .join("|"),
        ),
        (
            "role_change",
            Scope::Lines,
            [
                r"\b(?:nuev[oa]s?|verdader[oa]s?|real(?:es)?|secret[oa]s?|ocult[oa]s?|actualizad[oa]s?) (?:prompt|mensaje|instrucciones?|indicaciones) (?:de|del) sistema\b|\b(?:prompt|mensaje|instrucciones?) (?:de|del) sistema (?:nuev[oa]s?|actualizad[oa]s?|real(?:es)?|verdader[oa]s?)\b".to_owned(),
                r"\btus (?:nuevas|verdaderas|reales|autenticas) (?:instrucciones|reglas|ordenes|directrices|indicaciones) (?:son|seran)\b|\btu (?:nuev[oa]|verdader[oa]|real|autentic[oa]) (?:rol|papel|proposito|objetivo|tarea|identidad|personalidad|programacion|mision) (?:es|sera)\b".to_owned(),
                r"\b(?:a partir de ahora|desde ahora|de ahora en adelante|desde este momento),? (?:tu )?(?:eres|seras|actuas|actuaras|actua|te comportas|te comportaras|te llamas|no tienes|ya no tienes|ignoras|ignoraras|estas en modo|funcionas|finges|fingiras)\b".to_owned(),
                r"\b(?:ahora|ya) eres (?:un|una|el|la|mi|libre|dan|liberad[oa]|ilimitad[oa])\b|\beres ahora (?:un|una|el|la|mi|libre|dan)\b|\bya no eres (?:un|una|el|la)? ?(?:asistente|ia|modelo|chatbot|bot)\b|\bahora estas en modo\b".to_owned(),
                r"\b(?:actua|actue|actuen|comportate|comportese|responde|responda|finge|finja|haz|haga) (?:como )?(?:si|de cuenta que) no (?:tuvieras|tuviera|tuvieses|hubiera|existieran|tienes) (?:ninguna |ningun |ningunas )?(?:reglas?|restricciones?|limites?|filtros?|normas?|directrices|instrucciones|censura)\b".to_owned(),
                r"\b(?:actua como|actue como|comportate como|finge ser|finja ser|finge que eres|interpreta el papel de|haz el papel de|juega a ser|hazte pasar por)(?: un| una| el| la)? (?:ia |modelo |asistente )?(?:sin restricciones|sin filtros|sin censura|sin limites|sin reglas|malvad[oa]|malicios[oa]|root|superusuario|dan|administrador|admin|desarrollador|sistema|otra ia|otro asistente|jailbreak)\b".to_owned(),
            ]
            .join("|"),
        ),
        (
            "secret_exfiltration",
            Scope::Lines,
            [
                format!(r"\b(?:envia|envie|envien|enviar|manda|mande|manden|publica|sube|suba|reenvia|transmite|filtra|comparte|copia|pega|exfiltra|entrega|reporta)\b[^.!?\n]{{0,80}}?\b(?:{ES_SECRETS})\b[^.!?\n]{{0,120}}?\b(?:a|al|hacia|en|por|via|mediante)\b\s*{}", target(ES_TARGET_WORDS, "esta|esa|este|ese|la siguiente|el siguiente|mi|nuestra|nuestro|una|un|la|el")),
                format!(r"\b(?:incluye|incluya|anade|anada|agrega|agregue|adjunta|inserta|pon|ponga|pega)\b[^.!?\n]{{0,40}}?\b(?:{ES_SECRETS})\b[^.!?\n]{{0,40}}?\b(?:en|a|al final de) (?:cada|todas las|todos los|tus|cualquier) (?:respuestas?|mensajes?|salidas?)\b"),
            ]
            .join("|"),
        ),
        (
            "prompt_exfiltration",
            Scope::Lines,
            r"\b(?:imprime|muestra|muestrame|revela|revelame|repite|escribe|dime|dinos|comparte|copia|pega|expon|divulga|ensename|dame|filtra|recita|enumera)\b(?: (?:me|nos|el|la|los|las|tu|tus|su|sus|todo|toda|todas|completo|completa|entero|entera|exacto|exacta|original|inicial|oculto|oculta|secreto|secreta|actual|literal|literalmente|palabra por palabra)){0,5} (?:prompt (?:del|de) sistema|mensaje (?:del|de) sistema|instrucciones (?:del|de) sistema|instrucciones iniciales|instrucciones originales|instrucciones ocultas|instrucciones secretas|instrucciones que (?:te|se te) (?:dieron|han dado|dio)|system prompt|(?:tus|sus) (?:instrucciones|reglas|prompt) (?:literalmente|palabra por palabra|textualmente))\b".to_owned(),
        ),
        (
            "hidden_role_marker",
            Scope::Lines,
            r"(?m:^(?:sistema|desarrollador) ?: ?(?:tu\b|eres\b|ignora|olvida|a partir de ahora|desde ahora|nuevas (?:reglas|instrucciones)|siempre\b|nunca\b|no\b|debes\b))|(?m:^#{2,6} ?(?:mensaje del sistema|prompt del sistema|instrucciones del sistema)\s*:?\s*$)".to_owned(),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// French
// ---------------------------------------------------------------------------------------------

const FR_CONNECTORS: &str = "et|puis|alors|maintenant|donc|s'il te plait|s'il vous plait|stp|svp|simplement|juste|desormais|ok|important|attention|note";
const FR_IGNORE: &str = "ignore|ignorez|ignorer|oublie|oubliez|oublier|ne tiens (?:pas|plus) compte|ne tenez (?:pas|plus) compte|ne pas tenir compte|fais abstraction|faites abstraction|neglige|negligez|abandonne|abandonnez|contourne|contournez|outrepasse|outrepassez|passe outre|passez outre|laisse tomber|laissez tomber|ecarte|ecartez|efface|effacez";
const FR_FILLER: &str = "toutes|tous|toute|tout|les|la|le|l'|des|de|du|d'|tes|vos|ses|mes|ces|cette|ce|et|ou|ta|ton|votre|qui|que|t'ont|t'a|ont|ete|a|au|aux|ensemble|l'ensemble|precedentes|anterieures|donnees|donnes|recues|maintenant";
const FR_QUALIFIER: &str = "toutes|tous|precedentes?|precedents?|anterieures?|anterieurs?|ci-dessus|au-dessus|plus haut|originales?|originaux|initiales?|initiaux|tes|vos|systeme|du systeme|de securite|existantes?|actuelles?|d'origine|du developpeur|anciennes?|prealables?|recues|donnees auparavant";
const FR_RULES: &str = "instructions?|regles?|consignes?|directives?|lignes directrices|ordres?|indications?|restrictions?|politiques?|prompts?|programmation|limitations|contraintes";
const FR_TOOLS: &str = "shell|terminal|console|bash|commandes?|ligne de commande|code|scripts?|outils?|n'importe quel outil|tous les outils|systeme de fichiers|fichiers|internet|reseau|sudo|root|eval|file_write|web_fetch|web_search|schedule_task|install_skill|load_extension|competences|extensions?|plugins?";
const FR_SECRETS: &str = r"secrets?|identifiants|informations d'identification|mots? de passe|cles?(?: d'api| api| d'acces| ssh| privees?| secretes?)?|jetons?|tokens?|variables d'environnement|cookies?|identifiants de session|prompt systeme|historique (?:de (?:la )?conversation|du chat)|api[ _-]?keys?";
const FR_TARGET_WORDS: &str = "adresse(?: e-?mail)?|url|lien|site(?: web)?|serveur|domaine|webhook|page|e-?mail|courriel|boite (?:mail|de reception)";

fn french() -> Vec<(&'static str, Scope, String)> {
    let cs = clause(FR_CONNECTORS);
    vec![
        (
            "ignore_previous_instructions",
            Scope::Lines,
            [
                // "Ignore toutes les instructions précédentes", "oubliez les consignes ci-dessus".
                format!(r"{cs}(?:{FR_IGNORE})\b(?: ?(?:{FR_FILLER})){{0,4}} ?(?:{FR_QUALIFIER})(?: ?(?:{FR_FILLER})){{0,3}} ?(?:{FR_RULES})\b"),
                format!(r"{cs}(?:{FR_IGNORE})\b(?: ?(?:{FR_FILLER})){{0,3}} ?(?:{FR_RULES})(?: (?:{FR_FILLER})){{0,3}} (?:{FR_QUALIFIER})(?:\b|(?m:$))"),
                // "Oublie tout ce qu'on t'a dit", "ignore tout ce qui précède".
                format!(r"{cs}(?:{FR_IGNORE}) tout (?:ce (?:qui (?:precede|est (?:au-dessus|plus haut|ci-dessus|ecrit avant))|qu'on (?:t'a|vous a) (?:dit|demande|appris|ordonne)|que l'on (?:t'a|vous a) (?:dit|demande|appris)|que tu as (?:appris|recu)|que vous avez (?:appris|recu)|qui a ete dit)|le reste|(?:ci-dessus|au-dessus|avant)(?:(?m:$)|[.,;:!)]| et\b))"),
            ]
            .join("|"),
        ),
        (
            "tool_permission_escalation",
            Scope::Lines,
            [
                format!(r"\b(?:(?:tu es|vous etes) (?:maintenant |desormais |deja |dorenavant )?(?:autorise|autorisee|permis|habilite|habilitee|libre)s? (?:a |d')|(?:tu as|vous avez) (?:maintenant |desormais |dorenavant )?(?:la permission|l'autorisation|le droit|l'acces|acces) (?:de |d'|a ))(?:\S+ )?(?:utiliser|executer|lancer|appeler|invoquer|acceder a|installer|charger|contourner|ignorer)(?: le| la| les| l'| tous les| toutes les| n'importe quel| n'importe quelle)? ?(?:{FR_TOOLS}|approbations|permissions)\b"),
                r"\b(?:tu as|vous avez|tu disposes|vous disposez)(?: maintenant| desormais)? (?:de )?(?:l'acces|les droits|les privileges|acces|droits|privileges) (?:root|sudo|administrateur|admin|superutilisateur)\b".to_owned(),
                format!(r"\b(?:approbation|permission|autorisation) (?:a ete |est |t'est )?(?:accordee|donnee|approuvee|confirmee)\b[^.!?\n]{{0,60}}?\b(?:{FR_TOOLS}|executer|sans (?:demander|autorisation|approbation))\b"),
                r"\b(?:derogation|contournement|outrepassement|override) (?:de l'|de |du |d')?(?:administrateur|admin|root|systeme|developpeur|operateur)\b".to_owned(),
                r"\b(?:active|activez|activer|entre en|entrez en|passe en|passez en|bascule en|basculez en|debloque|debloquez)(?: le)? mode (?:dan|dieu|jailbreak|sans restrictions?|sans filtres?|sans censure|non censure|sudo|root|admin|administrateur)\b".to_owned(),
                r"\b(?:contourne|contournez|ignore|ignorez|saute|sautez|desactive|desactivez|evite|evitez|outrepasse|outrepassez)(?: la| les| le| l'| toute| toutes| tes| vos)? ?(?:approbations?|permissions?|autorisations?|sandbox|bac a sable|liste blanche|(?:verifications?|controles?|filtres?|restrictions?|regles|politiques?) de securite)\b".to_owned(),
                r"\bsans (?:demander|solliciter|attendre|avoir besoin d'|obtenir|requerir)(?: la| une| l'| d'| aucune| votre| ton| ta| de)? ?(?:approbation|permission|autorisation)\b".to_owned(),
            ]
            .join("|"),
        ),
        (
            "role_change",
            Scope::Lines,
            [
                r"\b(?:nouveau|nouvelle|nouvelles|nouveaux|vrai|vraie|veritable|secret|secrete|cache|cachee|mis a jour|mise a jour) (?:prompt|message|instructions?|consignes?|invite) (?:du |de )?systeme\b|\b(?:prompt|message|instructions?|consignes?|invite) (?:du |de )?systeme (?:nouveau|nouvelle|nouvelles|mis a jour|mises a jour|reel|reelles?|veritables?)\b".to_owned(),
                r"\b(?:tes|vos) (?:nouvelles|vraies|veritables|reelles) (?:instructions|regles|consignes|directives) (?:sont|seront)\b|\b(?:ton|votre) (?:nouveau|vrai|veritable|reel) (?:role|but|objectif|personnage|programme) (?:est|sera)\b|\b(?:ta|votre) (?:nouvelle|vraie|veritable|reelle) (?:mission|tache|identite|personnalite|programmation) (?:est|sera)\b".to_owned(),
                r"\b(?:tu es|vous etes) (?:maintenant|desormais|a present|dorenavant) (?:un|une|le|la|l'|mon|ma|libre|libere|liberee|sans|dan|en mode|plus un|plus une)\b".to_owned(),
                r"\b(?:a partir de maintenant|desormais|dorenavant|des maintenant|a partir d'aujourd'hui),? (?:tu es|vous etes|tu seras|vous serez|tu agis|vous agissez|agis comme|agissez comme|tu te comportes|vous vous comportez|comporte-toi|comportez-vous|tu n'as plus|vous n'avez plus|tu ignores|vous ignorez|tu fais semblant)\b".to_owned(),
                r"\b(?:agis|agissez|comporte-toi|comportez-vous|reponds|repondez|fais|faites) (?:comme )?(?:si|s') ?(?:tu n'avais|vous n'aviez|il n'y avait) (?:aucune|aucun|pas de|plus de) (?:regles?|restrictions?|limites?|filtres?|consignes?|censure)\b".to_owned(),
                r"\b(?:agis comme|agissez comme|fais semblant d'etre|faites semblant d'etre|joue le role d(?:e |')|jouez le role d(?:e |')|incarne|incarnez|prends le role d(?:e |')|fais-toi passer pour|faites-vous passer pour) ?(?:un |une |le |la |l')?(?:ia |assistant |modele )?(?:sans (?:restrictions?|filtres?|censure|limites?|regles)|malveillante?|malefique|root|super-?utilisateur|dan|administrateur|admin|developpeur|systeme|une autre ia|jailbreak)\b".to_owned(),
            ]
            .join("|"),
        ),
        (
            "secret_exfiltration",
            Scope::Lines,
            [
                format!(r"\b(?:envoie|envoyez|envoyer|poste|postez|publie|publiez|televerse|televersez|transfere|transferez|transmets|transmettez|partage|partagez|copie|copiez|colle|collez|exfiltre|divulgue|fais suivre|faites suivre)\b[^.!?\n]{{0,80}}?\b(?:{FR_SECRETS})\b[^.!?\n]{{0,120}}?\b(?:a|au|vers|sur|via|par|dans)\b\s*{}", target(FR_TARGET_WORDS, "cette|cet|l'|la|le|mon|ma|notre|une|un|l'adresse|ce")),
                format!(r"\b(?:inclus|incluez|ajoute|ajoutez|joins|joignez|insere|inserez|mets|mettez|colle|collez)\b[^.!?\n]{{0,40}}?\b(?:{FR_SECRETS})\b[^.!?\n]{{0,40}}?\b(?:dans|a la fin de) (?:chaque|toutes les|toutes tes|toutes vos|tes|vos) (?:reponses?|messages?|sorties?)\b"),
            ]
            .join("|"),
        ),
        (
            "prompt_exfiltration",
            Scope::Lines,
            r"\b(?:affiche|affichez|montre|montrez|montre-moi|montrez-moi|revele|revelez|repete|repetez|ecris|ecrivez|dis-moi|dites-moi|donne-moi|donnez-moi|partage|partagez|copie|copiez|divulgue|divulguez|recite|recitez|imprime|imprimez)\b(?: (?:moi|nous|le|la|les|l'|ton|ta|tes|votre|vos|tout|toute|toutes|entier|entiere|complet|complete|exact|exacte|original|originale|initial|initiale|cache|cachee|secret|secrete|actuel|actuelle|mot pour mot|textuellement)){0,5} ?(?:prompt (?:du )?systeme|message (?:du )?systeme|instructions (?:du )?systeme|instructions initiales|instructions d'origine|instructions originales|instructions cachees|instructions secretes|consignes (?:du )?systeme|consignes initiales|instructions qu'on t'a donnees|system prompt|invite (?:du )?systeme)\b".to_owned(),
        ),
        (
            "hidden_role_marker",
            Scope::Lines,
            r"(?m:^(?:systeme|developpeur) ?: ?(?:tu\b|vous\b|ignore|oublie|a partir de maintenant|desormais|nouvelles (?:regles|instructions|consignes)|toujours\b|jamais\b|ne\b|tu dois|vous devez))|(?m:^#{2,6} ?(?:message systeme|prompt systeme|instructions systeme|message du systeme|instructions du systeme)\s*:?\s*$)".to_owned(),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Portuguese
// ---------------------------------------------------------------------------------------------

const PT_CONNECTORS: &str =
    "e|entao|agora|depois|por favor|pf|simplesmente|apenas|so|tambem|alem disso|primeiro|ok|importante|nota|atencao";
const PT_IGNORE: &str = "ignore|ignora|ignorem|ignorar|esqueca|esquece|esquecam|esquecer|desconsidere|desconsidera|desconsiderem|desconsiderar|descarte|descarta|descartem|despreze|despreza|abandone|abandona|nao (?:siga|sigas|obedeca|obedecas) mais|deixe de (?:seguir|lado)|deixa de (?:seguir|lado)|pule|passe por cima (?:de|das|dos)|anule|anula|sobrescreva|contorne";
const PT_FILLER: &str = "todas|todos|toda|todo|as|os|a|o|suas|seus|tuas|teus|sua|seu|de|da|do|das|dos|e|ou|estas|essas|esses|estes|quaisquer|qualquer|que|te|lhe|voce|foram|recebeu|recebidas|dadas|anteriores|previas|agora|mesmo";
const PT_QUALIFIER: &str = "todas|todos|anteriores?|previas?|previos?|precedentes?|originais|original|iniciais|inicial|antigas?|antigos?|suas|seus|tuas|teus|do sistema|de seguranca|existentes?|atuais|atual|do desenvolvedor|acima|anteriormente|antes";
const PT_RULES: &str = "instrucoes|instrucao|regras?|normas?|diretrizes|diretriz|diretivas?|orientacoes|orientacao|ordens|ordem|restricoes|politicas?|prompts?|programacao|limitacoes|comandos";
const PT_TOOLS: &str = "shell|terminal|console|bash|comandos?|linha de comando|codigo|scripts?|ferramentas?|qualquer ferramenta|todas as ferramentas|sistema de arquivos|arquivos|internet|rede|sudo|root|eval|file_write|web_fetch|web_search|schedule_task|install_skill|load_extension|skills?|habilidades|extensoes|plugins?";
const PT_SECRETS: &str = r"segredos?|credenciais|senhas?|chaves?(?: de api| da api| de acesso| ssh| privadas?| secretas?| api)?|tokens?|variaveis de ambiente|cookies?|ids? de sessao|prompt do sistema|historico (?:da conversa|do chat)|api[ _-]?keys?";
const PT_TARGET_WORDS: &str =
    "url|endereco(?: de e-?mail)?|e-?mail|link|site|servidor|dominio|webhook|pagina|caixa de entrada";

fn portuguese() -> Vec<(&'static str, Scope, String)> {
    let cs = clause(PT_CONNECTORS);
    vec![
        (
            "ignore_previous_instructions",
            Scope::Lines,
            [
                // "Ignore todas as instruções anteriores", "esqueça suas regras".
                format!(r"{cs}(?:{PT_IGNORE})\b(?: (?:{PT_FILLER})){{0,4}} (?:{PT_QUALIFIER})(?: (?:{PT_FILLER})){{0,3}} (?:{PT_RULES})\b"),
                format!(r"{cs}(?:{PT_IGNORE})\b(?: (?:{PT_FILLER})){{0,3}} (?:{PT_RULES})(?: (?:{PT_FILLER})){{0,3}} (?:{PT_QUALIFIER})\b"),
                // "Esqueça tudo o que te disseram", "ignore tudo acima".
                format!(r"{cs}(?:{PT_IGNORE}) tudo (?:o )?(?:(?:acima|anterior|de antes|dito antes)(?:(?m:$)|[.,;:!)]| e\b)|que (?:te |lhe |voce )?(?:foi |foram |tinham |tenham )?(?:dito|disseram|ensinado|ensinaram|pedido|pediram|instruido|mandado|mandaram|dado|deram)|que (?:esta|veio|foi escrito) (?:acima|antes))"),
            ]
            .join("|"),
        ),
        (
            "tool_permission_escalation",
            Scope::Lines,
            [
                format!(r"\b(?:(?:voce|tu) (?:agora |ja )?(?:esta|estas|e|es) (?:autorizad[oa]|permitid[oa]|liberad[oa]|habilitad[oa]) a|(?:voce|tu) (?:agora |ja )?(?:tem|tens) (?:permissao|autorizacao|acesso)(?: total| completo| pleno)? (?:para|de|a))(?: \S+)?? (?:usar|utilizar|executar|rodar|chamar|invocar|acessar|instalar|carregar|ignorar|pular|contornar)(?: o| a| os| as| qualquer| todas as| todos os)? (?:{PT_TOOLS}|aprovacoes|permissoes)\b"),
                r"\b(?:voce|tu) (?:agora |ja )?(?:tem|tens|possui) (?:acesso|permissoes|privilegios|direitos)(?: de| como)? (?:root|sudo|administrador|admin|superusuario)\b".to_owned(),
                format!(r"\b(?:aprovacao|permissao|autorizacao) (?:foi |esta |ja foi )?(?:concedida|dada|aprovada|confirmada|liberada)\b[^.!?\n]{{0,60}}?\b(?:{PT_TOOLS}|executar|sem (?:perguntar|pedir|necessidade))\b"),
                r"\b(?:substituicao|anulacao|override|sobreposicao) (?:de |do )?(?:administrador|admin|root|sistema|desenvolvedor|operador)\b".to_owned(),
                r"\b(?:ative|ativa|ativar|entre no|entra no|mude para o|muda para o|passe para o|desbloqueie|desbloqueia|habilite|habilita)(?: o)? modo (?:dan|deus|jailbreak|sem restricoes|sem filtros|sem censura|irrestrito|sudo|root|admin|administrador)\b".to_owned(),
                r"\b(?:ignore|ignora|pule|pula|contorne|contorna|desative|desativa|evite|burle|burla)(?: a| as| o| os| qualquer| toda| todas| suas| todos)? (?:aprovacao|aprovacoes|permissao|permissoes|autorizacao|autorizacoes|sandbox|lista branca|(?:verificacoes|checagens|controles|filtros|restricoes|regras|politicas) de seguranca)\b".to_owned(),
                r"\bsem (?:pedir|solicitar|esperar|precisar de|obter|aguardar|perguntar por)(?: a| uma| nenhuma| sua| tua)? (?:aprovacao|permissao|autorizacao)\b".to_owned(),
            ]
            .join("|"),
        ),
        (
            "role_change",
            Scope::Lines,
            [
                r"\b(?:nov[oa]s?|verdadeir[oa]s?|real|reais|secret[oa]s?|ocult[oa]s?|atualizad[oa]s?) (?:prompt|mensagem|instrucoes|instrucao) (?:de|do) sistema\b|\b(?:prompt|mensagem|instrucoes|instrucao) (?:de|do) sistema (?:nov[oa]s?|atualizad[oa]s?|real|reais|verdadeir[oa]s?)\b".to_owned(),
                r"\b(?:suas|tuas) (?:novas|verdadeiras|reais) (?:instrucoes|regras|ordens|diretrizes) (?:sao|serao)\b|\b(?:seu|teu) (?:novo|verdadeiro|real) (?:papel|proposito|objetivo|personagem) (?:e|sera)\b|\b(?:sua|tua) (?:nova|verdadeira|real) (?:funcao|tarefa|missao|identidade|personalidade|programacao) (?:e|sera)\b".to_owned(),
                r"\b(?:a partir de agora|de agora em diante|daqui (?:em|pra|para) (?:diante|frente)|desde agora),? (?:voce|tu) (?:e|es|sera|seras|vai ser|age|agira|vai agir|se comporta|nao tem|ignora|finge|esta em modo)\b".to_owned(),
                r"\b(?:voce|tu) (?:e|es) agora (?:um|uma|o|a|meu|minha|livre|dan|irrestrit[oa]|sem)\b|\bagora (?:voce|tu) (?:e|es) (?:um|uma) (?:ia|assistente|modelo|bot|chatbot|hacker|personagem|sistema)\b|\b(?:voce|tu) nao (?:e|es) mais (?:um|uma|o|a)? ?(?:assistente|ia|modelo|chatbot|bot)\b|\bagora (?:voce|tu) (?:esta|estas) em modo\b".to_owned(),
                r"\b(?:aja|age|comporte-se|comporta-te|responda|responde|finja|finge)(?: como)? se (?:voce |tu )?nao (?:tivesse|tivesses|houvesse|existissem|tem) (?:nenhuma |nenhum )?(?:regras?|restricoes|limites?|filtros?|normas|diretrizes|censura)\b".to_owned(),
                r"\b(?:aja como|age como|finja ser|finge ser|finja que e|se passe por|passe-se por|interprete o papel de|faca o papel de|faz o papel de)(?: um| uma| o| a)? (?:ia |assistente |modelo )?(?:sem (?:restricoes|filtros|censura|limites|regras)|malicios[oa]|malign[oa]|root|superusuario|dan|administrador|admin|desenvolvedor|sistema|outra ia|jailbreak)\b".to_owned(),
            ]
            .join("|"),
        ),
        (
            "secret_exfiltration",
            Scope::Lines,
            [
                format!(r"\b(?:envie|envia|enviar|mande|manda|publique|poste|suba|encaminhe|encaminha|transmita|vaze|vaza|compartilhe|copie|cole|exfiltre|entregue)\b[^.!?\n]{{0,80}}?\b(?:{PT_SECRETS})\b[^.!?\n]{{0,120}}?\b(?:para|a|ao|em|no|na|via|por|pelo)\b\s*{}", target(PT_TARGET_WORDS, "esta|essa|este|esse|a seguinte|o seguinte|meu|minha|nosso|nossa|um|uma|o|a")),
                format!(r"\b(?:inclua|inclui|adicione|acrescente|anexe|insira|coloque|cole)\b[^.!?\n]{{0,40}}?\b(?:{PT_SECRETS})\b[^.!?\n]{{0,40}}?\b(?:em|no final de|ao final de|na|no) (?:cada|todas as|todos os|suas|qualquer) (?:respostas?|mensagens?|saidas?)\b"),
            ]
            .join("|"),
        ),
        (
            "prompt_exfiltration",
            Scope::Lines,
            r"\b(?:imprima|mostre|mostra|revele|revela|repita|repete|escreva|diga|diz|me diga|me de|compartilhe|copie|cole|exponha|divulgue|recite|liste)\b(?: (?:me|nos|o|a|os|as|seu|sua|seus|suas|teu|tua|todo|toda|todas|completo|completa|inteiro|inteira|exato|exata|original|inicial|oculto|oculta|secreto|secreta|atual|literalmente|palavra por palavra)){0,5} (?:prompt do sistema|mensagem do sistema|instrucoes do sistema|instrucoes iniciais|instrucoes originais|instrucoes ocultas|instrucoes secretas|instrucoes que (?:voce|te) (?:recebeu|foram dadas)|system prompt|(?:suas|tuas) (?:instrucoes|regras) (?:literalmente|palavra por palavra))\b".to_owned(),
        ),
        (
            "hidden_role_marker",
            Scope::Lines,
            r"(?m:^(?:sistema|desenvolvedor) ?: ?(?:voce\b|tu\b|ignore|esqueca|a partir de agora|novas (?:regras|instrucoes)|sempre\b|nunca\b|nao\b|deve\b))|(?m:^#{2,6} ?(?:mensagem do sistema|prompt do sistema|instrucoes do sistema)\s*:?\s*$)".to_owned(),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Chinese (simplified and traditional) and Japanese
// ---------------------------------------------------------------------------------------------

/// Within one sentence: anything but a sentence end.
const CJK_GAP: &str = "[^。！？!?]";
/// Where a command opens: line start, punctuation, "please", "now", "you (must)".
const ZH_OPENER: &str = r"(?:(?m:^)|[。！？!?.,，;；:：、\s「『“(]|请|請|现在|現在|立即|立刻|马上|馬上|务必|務必|从现在(?:开始|起)|從現在(?:開始|起)|接下来|接下來|你(?:要|必须|必須|应该|應該|需要)?)";
const ZH_RULES: &str = "指令|指示|规则|規則|说明|說明|提示词|提示詞|设定|設定|命令|约束|約束|限制|准则|準則|指引|守则|守則|规定|規定|政策|人设|人設";
const ZH_SECRETS: &str = r"(?:api ?)?(?:密钥|密鑰|秘钥|秘鑰|key)|密码|密碼|口令|令牌|token|凭证|憑證|凭据|憑據|私钥|私鑰|环境变量|環境變量|環境變數|cookie|会话id|會話id|系统提示词|系統提示詞|聊天记录|聊天記錄|对话历史|對話歷史|机密|機密";
const ZH_TARGET: &str = r"(?:https?://|www\.|[\w.+-]+@[\w-]+\.\w|[\w-]+\.(?:com|net|org|io|ru|cn|xyz|top|site|app|dev)\b|(?:这个|這個|以下|下面的|该|該|外部|我的|此)(?:网址|網址|链接|鏈接|連結|地址|邮箱|郵箱|电子邮件|電子郵件|服务器|伺服器|域名|网站|網站))";

fn chinese() -> Vec<(&'static str, Scope, String)> {
    let g = CJK_GAP;
    vec![
        (
            "ignore_previous_instructions",
            Scope::Lines,
            [
                // "忽略之前的所有指令", "請無視以上所有規則", "忘记你原来的设定". A verb followed by
                // 了 tells what happened ("他忘记了之前的说明"), so it does not count.
                format!(r"{ZH_OPENER}(?:忽略|忽视|忽視|无视|無視|忘记|忘記|忘掉|抛开|拋開|抛弃|拋棄|丢弃|丟棄|放弃|放棄|不要(?:再)?(?:理会|理會|遵守|遵循|听从|聽從|管)|别(?:再)?(?:理会|遵守|管)|別(?:再)?(?:理會|遵守|管)|跳过|跳過|绕过|繞過|无需遵守|無需遵守|不必遵守|覆盖|覆蓋|废除|廢除)(?:掉)?(?:[^了。！？!?]{g}{{0,5}}?)?(?:之前|以前|先前|此前|前面|上面|上述|以上|原有|原先|原来|原來|最初|初始|所有|全部|一切|你的|系统|系統|现有|現有|既有|旧的|舊的|开发者|開發者|安全){g}{{0,8}}?(?:{ZH_RULES})"),
                // "忘掉上面的一切", "忽略你之前收到的所有内容".
                format!(r"{ZH_OPENER}(?:忽略|忽视|忽視|无视|無視|忘记|忘記|忘掉|抛开|拋開)(?:掉)?(?:[^了。！？!?]{g}{{0,8}}?)?(?:(?:上面|以上|之前|前面|先前)(?:的)?(?:所有|全部)?(?:的)?(?:一切|内容|內容|对话|對話)|之前收到的|你被告知的|别人告诉你的|別人告訴你的)"),
            ]
            .join("|"),
        ),
        (
            "tool_permission_escalation",
            Scope::Lines,
            [
                r"你(?:现在|現在|已经|已經|已)?(?:被)?(?:允许|允許|获准|獲准|授权|授權|有权|有權|可以随意|可以任意)(?:使用|调用|調用|运行|運行|执行|執行|访问|訪問|安装|安裝|加载|加載|绕过|繞過)(?:任何|所有|全部)?(?:的)?(?:shell|终端|終端|bash|命令|代码|代碼|脚本|腳本|工具|文件系统|文件系統|文件|网络|網絡|網路|互联网|互聯網|sudo|root|file_write|web_fetch|web_search|eval|技能|扩展|擴展|插件|审批|審批)".to_owned(),
                r"你(?:现在|現在)?(?:拥有|擁有|有|获得|獲得|被授予|被賦予|被赋予)(?:了)?(?:完全|完整|无限制的|無限制的|最高)?(?:的)?(?:root|sudo|管理员|管理員|超级用户|超級用戶)(?:权限|權限|访问权|訪問權)".to_owned(),
                format!(r"(?:批准|许可|許可|授权|授權|权限|權限)(?:已|已经|已經)?(?:被)?(?:授予|获得|獲得|通过|通過|批准|给予|給予){g}{{0,30}}?(?:工具|shell|终端|終端|命令|执行|執行|运行|運行|无需|無需|不需要|不用)"),
                r"(?:管理员|管理員|系统|系統|开发者|開發者|root|超级用户|超級用戶)(?:覆盖|覆蓋|绕过|繞過|越权|越權)".to_owned(),
                r"(?:启用|啟用|开启|開啟|打开|打開|进入|進入|切换到|切換到|激活|解锁|解鎖)(?:dan|上帝|越狱|越獄|无限制|無限制|不受限制|无审查|無審查|sudo|root|管理员|管理員)模式".to_owned(),
                r"(?:绕过|繞過|跳过|跳過|忽略|无视|無視|关闭|關閉|禁用|规避|規避)(?:所有|任何|全部)?(?:的)?(?:审批|審批|批准|许可|許可|权限检查|權限檢查|授权|授權|沙箱|沙盒|白名单|白名單|安全检查|安全檢查|安全限制|安全过滤|安全過濾|安全策略|安全规则|安全規則)".to_owned(),
                r"(?:无需|無需|不需要|不必|不用|无须|無須)(?:再)?(?:请求|請求|申请|申請|征求|徵求|等待)(?:任何|用户|用戶|管理员|管理員)?(?:的)?(?:批准|许可|許可|授权|授權|审批|審批|同意)".to_owned(),
            ]
            .join("|"),
        ),
        (
            "role_change",
            Scope::Lines,
            [
                r"(?:新的?|更新的?|真正的?|真实的?|真實的?|秘密的?|隐藏的?|隱藏的?)(?:系统|系統)(?:提示词|提示詞|提示|消息|訊息|信息|指令|指示|设定|設定)".to_owned(),
                r"你的新(?:指令|指示|规则|規則|角色|身份|身分|任务|任務|目标|目標|设定|設定)(?:是|为|為)".to_owned(),
                r"你(?:现在|現在)(?:是|就是|成为|成為|变成|變成)|(?:从现在|從現在)(?:开始|開始|起)[,，]?你(?:是|将是|將是|就是|要扮演|不再|将|將|没有|沒有)|你不再是(?:一个|一個)?(?:ai|助手|人工智能|模型|机器人|機器人)|你(?:现在|現在)?(?:处于|處於|进入了|進入了)\w{0,6}模式".to_owned(),
                r"(?:假装|假裝|当作|當作|就当|就當|想象|想像)(?:你|自己)?(?:没有|沒有|不受|不再有|无|無)(?:任何)?(?:限制|规则|規則|约束|約束|过滤|過濾|审查|審查|道德|准则|準則)".to_owned(),
                r"(?:扮演|假装是|假裝是|假装成|假裝成|充当|充當|化身为|化身為)(?:一个|一個|一名)?(?:不受限制的|无限制的|無限制的|没有限制的|沒有限制的|未经审查的|未經審查的|邪恶的|邪惡的|越狱的|越獄的)?(?:ai|人工智能|助手|模型)?(?:dan|管理员|管理員|开发者|開發者|超级用户|超級用戶|root|系统|系統|越狱|越獄|黑客|另一个ai|另一個ai)|(?:扮演|假装是|假裝是|充当|充當)(?:一个|一個|一名)?(?:不受限制|无限制|無限制|没有限制|沒有限制|未经审查|未經審查|邪恶|邪惡)的".to_owned(),
            ]
            .join("|"),
        ),
        (
            "secret_exfiltration",
            Scope::Lines,
            [
                format!(r"(?:发送|發送|发给|發給|发到|發到|寄给|寄給|上传|上傳|转发|轉發|传给|傳給|传到|傳到|提交|泄露|洩露|泄漏|洩漏|分享|贴到|貼到|复制到|複製到){g}{{0,40}}?(?:{ZH_SECRETS}){g}{{0,60}}?{ZH_TARGET}|(?:{ZH_SECRETS}){g}{{0,30}}?(?:发送|發送|发给|發給|发到|發到|寄给|寄給|上传|上傳|转发|轉發|传给|傳給|传到|傳到|提交|贴到|貼到)(?:到|至|给|給)?{g}{{0,20}}?{ZH_TARGET}"),
                format!(r"(?:在|于|於)?(?:每(?:一)?(?:条|條|个|個|次)?|所有)(?:回复|回覆|回答|消息|訊息|输出|輸出){g}{{0,10}}?(?:附上|附加|加上|包含|带上|帶上|插入|写上|寫上|显示|顯示){g}{{0,20}}?(?:{ZH_SECRETS})"),
            ]
            .join("|"),
        ),
        (
            "prompt_exfiltration",
            Scope::Lines,
            r"(?:打印|输出|輸出|显示|顯示|展示|透露|泄露|洩露|告诉我|告訴我|给我看|給我看|重复|重複|复述|複述|说出|說出|列出|写出|寫出|公开|公開|分享|发出|發出)(?:你的|一下|出|下)?(?:完整的|全部的|原始的|原本的|初始的|隐藏的|隱藏的|秘密的|所有的)?(?:你的)?(?:系统提示词|系統提示詞|系统提示|系統提示|系统消息|系統消息|系统指令|系統指令|系统设定|系統設定|初始指令|原始指令|隐藏指令|隱藏指令|最初的指令|收到的指令|提示词|提示詞)|(?:逐字|原封不动|原封不動)(?:地)?(?:输出|輸出|重复|重複|复述|複述)(?:你的)?(?:指令|提示词|提示詞|规则|規則)".to_owned(),
        ),
        (
            "hidden_role_marker",
            Scope::Lines,
            r"(?m:^(?:系统|系統|开发者|開發者) ?: ?(?:你|忽略|忘记|忘記|从现在|從現在|新的(?:规则|規則|指令)|总是|總是|始终|始終|永远|永遠|不要|禁止|必须|必須))|(?m:^#{2,6} ?(?:系统提示词?|系統提示詞?|系统消息|系統消息)\s*:?\s*$)".to_owned(),
        ),
    ]
}

const JA_RULES: &str =
    "指示|命令|ルール|規則|指令|制約|制限|プロンプト|ガイドライン|方針|ポリシー|指針|インストラクション";
/// An imperative (or "to do") form: "無視して(ください)", "忘れろ", "従わないで"; not "無視した"
/// or "忘れてしまった", which tell what happened.
const JA_IMPERATIVE: &str = r"(?:(?:無視|破棄|放棄|スキップ|上書き|リセット)(?:して(?:ください|下さい|くれ(?:ない)?|ね|よ)?(?:(?m:$)|[。、！!,，\s])|しろ|せよ|しなさい|するように|すること)|忘れ(?:て(?:ください|下さい|くれ|ね|よ)?(?:(?m:$)|[。、！!,，\s])|ろ|なさい|るように|ること)|捨て(?:て(?:ください|下さい|くれ|ね|よ)?(?:(?m:$)|[。、！!,，\s])|ろ|なさい)|従わ(?:ないで|なくてよい|なくていい)|従うな|気にしないで)";
const JA_SECRETS: &str = r"秘密鍵|シークレット|api ?キー|apiキー|アクセスキー|パスワード|トークン|認証情報|資格情報|クレデンシャル|環境変数|クッキー|セッションid|システムプロンプト|会話履歴|チャット履歴|機密情報";
const JA_TARGET: &str = r"(?:https?://|www\.|[\w.+-]+@[\w-]+\.\w|[\w-]+\.(?:com|net|org|io|ru|cn|xyz|top|site|app|dev)\b|(?:この|次の|以下の|外部の|私の)(?:url|アドレス|メールアドレス|サーバー|サイト|ウェブサイト|ドメイン|リンク))";

fn japanese() -> Vec<(&'static str, Scope, String)> {
    let g = CJK_GAP;
    vec![
        (
            "ignore_previous_instructions",
            Scope::Lines,
            [
                // "以前の指示をすべて無視してください", "これまでのルールは忘れろ".
                format!(r"(?:以前の|前の|これまでの|今までの|先の|上記の|上の|元の|最初の|当初の|すべての|全ての|全部の|あなたの|システムの|既存の|現在の|開発者の|安全){g}{{0,10}}?(?:{JA_RULES}){g}{{0,8}}?{JA_IMPERATIVE}"),
                // "これまでの内容をすべて忘れて", "上記をすべて無視して".
                format!(r"(?:これまで|今まで|上記|以上|前)(?:の(?:内容|会話|こと|すべて|全て|話|やり取り))?(?:を|は)?(?:すべて|全て|全部)?{JA_IMPERATIVE}"),
            ]
            .join("|"),
        ),
        (
            "tool_permission_escalation",
            Scope::Lines,
            [
                format!(r"(?:あなた|君|お前|アシスタント|エージェント)(?:は|には|に){g}{{0,12}}?(?:シェル|ターミナル|bash|コマンド|コード|スクリプト|ツール|ファイル|ネットワーク|インターネット|sudo|root|file_write|web_fetch|web_search|eval|スキル|拡張機能|プラグイン){g}{{0,12}}?(?:許可され|認められ|承認され|権限が(?:あ|与えられ|付与され))"),
                r"(?:あなた|君|お前)(?:は|に|には){0,1}(?:今|もう)?(?:root|sudo|管理者|スーパーユーザー)(?:の)?(?:権限|アクセス)(?:が|を)(?:あ|与え|付与|持っ)".to_owned(),
                format!(r"(?:承認|許可|権限)(?:は|が)?(?:既に|すでに)?(?:与えられ|付与され|得られ|済み|されました|されています){g}{{0,30}}?(?:ツール|シェル|コマンド|実行|不要|なしで)"),
                r"(?:管理者|システム|開発者|root|ルート)(?:権限で)?(?:の)?(?:オーバーライド|上書き|バイパス)".to_owned(),
                r"(?:dan|ゴッド|神|脱獄|ジェイルブレイク|無制限|制限なし|検閲なし|sudo|root|管理者)モード(?:を)?(?:有効|オン|起動|開始|に切り替え|に入|にして|に移行)".to_owned(),
                r"(?:承認|許可|権限|認可|サンドボックス|ホワイトリスト|安全チェック|セキュリティチェック|安全フィルター|セキュリティ制限)(?:を|は)?(?:すべて|全て)?(?:回避|スキップ|無視|バイパス|無効に|オフに|飛ばし)".to_owned(),
                r"(?:承認|許可|認可)(?:を)?(?:求め|得|待た|取ら)(?:ず|ずに|ないで)".to_owned(),
            ]
            .join("|"),
        ),
        (
            "role_change",
            Scope::Lines,
            [
                r"(?:新しい|新たな|新規の?|本当の|真の|秘密の|隠された|更新された)(?:システムプロンプト|システム指示|システムメッセージ|システム設定)".to_owned(),
                r"(?:あなた|君)の(?:新しい|本当の|真の)(?:指示|命令|ルール|役割|役目|任務|目的|設定)は".to_owned(),
                r"(?:あなた|君|お前)は(?:今から|これから|今後|もう|今や|現在)(?:は)?[、,]?|(?:今から|これから|今後|以後|以降)(?:は)?[、,]?(?:あなた|君|お前)は".to_owned(),
                r"(?:制限|ルール|規則|制約|フィルター|検閲)(?:が|の|は)?(?:一切)?(?:ない|無い|なし|ありません)(?:か)?(?:のように|ように|ものとして|ふりをして|つもりで)".to_owned(),
                r"(?:制限のない|無制限の|検閲のない|悪意のある|邪悪な)?(?:ai|アシスタント)?(?:開発者|デベロッパー|管理者|スーパーユーザー|root|ルート|システム|dan|ジェイルブレイク|脱獄|別のai)(?:モード)?(?:として(?:振る舞|ふるま|行動|応答|答え)(?:って|え|いなさい|ってください)|になりきって|のふりをして|を演じて)".to_owned(),
            ]
            .join("|"),
        ),
        (
            "secret_exfiltration",
            Scope::Lines,
            [
                format!(r"(?:{JA_SECRETS}){g}{{0,30}}?{JA_TARGET}{g}{{0,80}}?(?:送信|送って|送れ|アップロード|転送|投稿|共有|漏らし|貼り付け|メール)|{JA_TARGET}{g}{{0,80}}?(?:{JA_SECRETS}){g}{{0,20}}?(?:送信|送って|送れ|アップロード|転送|投稿|共有|漏らし|貼り付け|メール)"),
                format!(r"(?:すべての|全ての|毎回の|各)(?:返信|回答|応答|メッセージ|出力)(?:に|の){g}{{0,20}}?(?:{JA_SECRETS}){g}{{0,20}}?(?:含め|入れ|追加|付け|記載)"),
            ]
            .join("|"),
        ),
        (
            "prompt_exfiltration",
            Scope::Lines,
            r"(?:システムプロンプト|システムメッセージ|システム指示|初期指示|最初の指示|元の指示|隠された指示|秘密の指示|受け取った指示|あなたへの指示)(?:を|の内容を)?(?:すべて|全て|全部|そのまま|一字一句)?(?:表示|出力|教え|見せ|開示|公開|繰り返|暴露|書き出|言って|共有|コピー)".to_owned(),
        ),
        (
            "hidden_role_marker",
            Scope::Lines,
            r"(?m:^(?:システム|開発者) ?: ?(?:あなた|君|無視|忘れ|今から|これから|新しい(?:ルール|指示)|常に|必ず|絶対|決して))|(?m:^#{2,6} ?(?:システムプロンプト|システムメッセージ)\s*:?\s*$)".to_owned(),
        ),
    ]
}

/// Rewrites a pattern so each literal space outside a character class matches a space or a line
/// break: the rules run on the text with its lines kept (so `(?m:^)` finds a line's start) yet
/// still match a phrase broken over two lines.
fn spaces_match_line_breaks(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut depth = 0usize;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '[' => {
                depth += 1;
                out.push(c);
            }
            ']' if depth > 0 => {
                depth -= 1;
                out.push(c);
            }
            ' ' if depth == 0 => out.push_str("[ \\n]"),
            c => out.push(c),
        }
    }
    out
}

/// Every language's rules, each under the name of the English family it mirrors.
pub(super) fn rules() -> Vec<(&'static str, Scope, String)> {
    [german(), spanish(), french(), portuguese(), chinese(), japanese()]
        .into_iter()
        .flatten()
        .map(|(name, scope, pattern)| (name, scope, spaces_match_line_breaks(&pattern)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_outside_classes_also_match_line_breaks() {
        assert_eq!(spaces_match_line_breaks(r"a b[ c]\ d"), r"a[ \n]b[ c]\ d");
        assert_eq!(spaces_match_line_breaks(r"[^\] ]x y"), r"[^\] ]x[ \n]y");
    }
}
