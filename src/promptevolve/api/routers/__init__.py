"""One router per noun; each calls its service and holds no logic of its own."""
