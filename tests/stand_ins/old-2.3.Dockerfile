# Stand-in of the official Dovecot 2.3 images (old/2.3.21.1): Debian's packages, /usr/sbin/dovecot, users vmail
# (1000) plus dovecot and dovenull, `tini -- /usr/sbin/dovecot -F`, runs as root. (Not its VOLUMEs: the harness
# removes containers without their anonymous volumes.)
ARG BASE
FROM ${BASE}
RUN apt-get -o Acquire::Check-Valid-Until=false update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd -g 1000 vmail && useradd -u 1000 -g 1000 -M -d /srv/mail -s /usr/sbin/nologin vmail \
 && mkdir -p /srv/mail && chown vmail:vmail /srv/mail
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/sbin/dovecot", "-F"]
