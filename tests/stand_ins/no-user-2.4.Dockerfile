# An image Dovecot cannot run the harness's config on: the rootless layout with vmail removed too, so no
# unprivileged user is left for the login and internal processes.
ARG BASE
FROM ${BASE}
RUN userdel dovecot && userdel dovenull \
 && (groupdel dovecot 2>/dev/null || true) && (groupdel dovenull 2>/dev/null || true)
USER nobody
