"""``provision doctor``'s checks: the token and each target's access (:mod:`.checks`), each
registry's credentials by a real login (:mod:`.login`), names shadowed at another level
(:mod:`.shadowing`)."""
