#!/bin/sh
# The image's entry point: a followup command starts only on a migrated database.
#
#   MIGRATE=1 (the default)  `followup db upgrade` first, then the command. A `docker run`
#                            on a new volume serves a migrated database.
#   MIGRATE=0                never migrates: if the database is not at the code's revision,
#                            says so in one line and exits 3 without starting the command.
#                            For deployments that migrate once, explicitly (the compose
#                            `migrate` service, a Kubernetes Job, a release step).
#
# `followup db ...` (the migrations themselves), `followup --help` and commands other
# than followup run as given. The command is exec'd: it receives the container's signals.
set -eu

if [ "${1:-}" = followup ]; then
  case "${2:-}" in
    "" | db | -h | --help | --version) ;;
    *)
      case "${MIGRATE:-1}" in
        1)
          followup db upgrade
          ;;
        0)
          if ! problem="$(followup db check 2>&1)"; then
            problem="$(printf '%s\n' "$problem" | sed -n '$s/^error: //;$p')"
            echo "not starting \`$*\` with MIGRATE=0: $problem" >&2
            exit 3
          fi
          ;;
        *)
          echo "MIGRATE must be 1 (migrate, then start) or 0 (start only if migrated), not '${MIGRATE}'" >&2
          exit 2
          ;;
      esac
      ;;
  esac
fi

exec "$@"
