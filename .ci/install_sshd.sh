#!/usr/bin/env bash
# Install what the SFTP tests (tests/video/test_remote.py) need: Debian's OpenSSH server (the test
# starts its own sshd on 127.0.0.1 with temporary keys; no system service is enabled) and
# ffmpeg/ffprobe built with libssh (they stream frames over sftp://).
# Idempotent: does nothing when both are already there. Needs root (apt-get).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || need+=(ffmpeg)
command -v ssh-keygen >/dev/null || need+=(openssh-client)

if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# sshd's privilege-separation directory (normally made by the service manager)
mkdir -p /run/sshd && chmod 0755 /run/sshd

/usr/sbin/sshd -V 2>&1 | head -1 || true
ffmpeg -hide_banner -protocols 2>/dev/null | grep -qx '  sftp' && echo "ffmpeg: sftp ok"
