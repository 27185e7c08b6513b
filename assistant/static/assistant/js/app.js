// Site-wide behaviour that htmx attributes cannot express. Loaded with the CSP nonce.
"use strict";
