"""Personal accounts: users who sign in with a password, and their personal tokens.

- :mod:`.users`: create, list, update (role, scope, name), disable, enable, reset and
  change passwords (Argon2id);
- :mod:`.signin`: checking a username and password, with failures counted per account
  and per client address (the schedule is :mod:`app.passwords`');
- :mod:`.personal_tokens`: API tokens a person makes that act as them;
- :mod:`.signatures`: a change signed with the password again (its meanings and value
  are :mod:`app.signatures`').

A password is never stored, logged, audited or shown, except the one-time password a
new or reset account is given (shown once to the admin; it must be changed at the
first sign-in).
"""
