# Stand-in of the official Dovecot 2.4 default tags (target production of dovecot/docker), from Debian's packages:
# only the user vmail (1000:1000), no dovecot/dovenull; `dovecot` only under /dovecot/sbin (on PATH); bash,
# coreutils, grep, sed, apt, dpkg and libc-bin's getent removed; tini entrypoint; runs as vmail.
ARG BASE
FROM ${BASE}
RUN apt-get -o Acquire::Check-Valid-Until=false update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
RUN userdel dovecot && userdel dovenull \
 && (groupdel dovecot 2>/dev/null || true) && (groupdel dovenull 2>/dev/null || true) \
 && groupadd -g 1000 vmail && useradd -u 1000 -g 1000 -M -d /srv/vmail -s /usr/sbin/nologin vmail \
 && mkdir -p /dovecot/sbin /dovecot/bin /srv/vmail && chown vmail:vmail /srv/vmail \
 && mv /usr/sbin/dovecot /dovecot/sbin/dovecot \
 && cp /usr/bin/doveadm /usr/bin/doveconf /dovecot/bin/
ENV PATH=$PATH:/dovecot/bin:/dovecot/sbin
# The shell itself (dash) stays, as in the official images; everything else a script would use goes, last.
RUN rm -f $(dpkg -L coreutils grep sed bash | grep -E '^/(usr/)?s?bin/') \
      /usr/bin/getent /usr/bin/apt /usr/bin/apt-get /usr/bin/dpkg /usr/bin/dpkg-query
USER vmail
ENTRYPOINT ["/usr/bin/tini", "--", "/dovecot/sbin/dovecot", "-F"]
