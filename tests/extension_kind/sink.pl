# An SMTP sink for the harness's extension test: one client at a time, every line logged as "sink< <line>".
use strict;
use warnings;
use IO::Socket::INET;

if (@ARGV && $ARGV[0] eq "--version") { print "1.0.0\n"; exit 0; }
my $greeting = $ARGV[0] // "sink ESMTP";
$| = 1;
my $server = IO::Socket::INET->new(LocalPort => 25, Listen => 16, ReuseAddr => 1) or die "cannot listen: $!";
while (my $client = $server->accept) {
    $client->autoflush(1);
    $client->timeout(30);
    print $client "220 $greeting\r\n";
    while (my $line = <$client>) {
        $line =~ s/\r?\n\z//;
        print "sink< $line\n";
        if ($line =~ /^(EHLO|HELO|LHLO)\b/i) { print $client "250-sink\r\n250 XCLIENT ADDR PORT LOGIN NAME HELO\r\n"; }
        elsif ($line =~ /^XCLIENT\b/i) { print $client "220 $greeting\r\n"; }
        elsif ($line =~ /^QUIT\b/i) { print $client "221 bye\r\n"; last; }
        else { print $client "250 ok\r\n"; }
    }
    close $client;
}
