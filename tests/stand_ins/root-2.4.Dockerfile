# Stand-in of the official Dovecot 2.4 `-root` tags: users vmail (1000), dovecot and dovenull; `dovecot` only under
# /dovecot/sbin (on PATH); shell tools removed as in the default tags; tini entrypoint; runs as root.
ARG BASE
FROM ${BASE}
RUN apt-get -o Acquire::Check-Valid-Until=false update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd -g 1000 vmail && useradd -u 1000 -g 1000 -M -d /srv/vmail -s /usr/sbin/nologin vmail \
 && mkdir -p /dovecot/sbin /dovecot/bin /srv/vmail && chown vmail:vmail /srv/vmail \
 && mv /usr/sbin/dovecot /dovecot/sbin/dovecot \
 && cp /usr/bin/doveadm /usr/bin/doveconf /dovecot/bin/
ENV PATH=$PATH:/dovecot/bin:/dovecot/sbin
RUN rm -f $(dpkg -L coreutils grep sed bash | grep -E '^/(usr/)?s?bin/') \
      /usr/bin/getent /usr/bin/apt /usr/bin/apt-get /usr/bin/dpkg /usr/bin/dpkg-query
ENTRYPOINT ["/usr/bin/tini", "--", "/dovecot/sbin/dovecot", "-F"]
