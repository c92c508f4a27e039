# Real mail peers for the end-to-end tests (bash, sourced after lib.sh and a lab's env file):
# two Dovecots (dc1 on SERVER1, dc2 on SERVER2) and two Postfixes (pf1, pf2 on :587) in the
# server namespace, mailclient.py sessions from the client side, and checks on what each
# server logged about the client (rip=, connect from unknown[...]).
# shellcheck shell=bash disable=SC2034 # variables are read by the scripts that source this

MAIL_PEERS=$E2E_ROOT/scripts/peers
MAIL_CLIENT=$MAIL_PEERS/mailclient.py
DC=() PF=()
declare -A LOG_OF=() MARK=()

# mail_peers_start [dovecot|postfix|all]: starts the peers as checks (the lab env is sourced).
mail_peers_start() {
  local what=${1:-all} run=$LAB_RUN_DIR
  if [ "$what" != postfix ]; then
    DC=("$run/dc1" "$run/dc2")
    LOG_OF[dc1]=$run/dc1/dovecot.log
    LOG_OF[dc2]=$run/dc2/dovecot.log
    e2e_check "dovecot dc1 on $SERVER1" "$MAIL_PEERS/dovecot.sh" start "${DC[0]}" "$NS_SRV" "$SERVER1" "$SOURCE_ADDR/32" || return 1
    e2e_check "dovecot dc2 on $SERVER2" "$MAIL_PEERS/dovecot.sh" start "${DC[1]}" "$NS_SRV" "$SERVER2" "$SOURCE_ADDR/32" || return 1
  fi
  if [ "$what" != dovecot ]; then
    PF=("$run/pf1" "$run/pf2")
    LOG_OF[pf1]=$run/pf1/maillog
    LOG_OF[pf2]=$run/pf2/maillog
    e2e_check "postfix pf1 on $SERVER1:587" "$MAIL_PEERS/postfix.sh" start "${PF[0]}" "$NS_SRV" "$SERVER1" || return 1
    e2e_check "postfix pf2 on $SERVER2:587" "$MAIL_PEERS/postfix.sh" start "${PF[1]}" "$NS_SRV" "$SERVER2" || return 1
  fi
}

# Stops them in parallel (a Dovecot master takes ~2.5 s to stop).
mail_peers_stop() {
  local d pids=()
  for d in "${DC[@]}"; do "$MAIL_PEERS/dovecot.sh" stop "$d" & pids+=($!); done
  for d in "${PF[@]}"; do "$MAIL_PEERS/postfix.sh" stop "$d" & pids+=($!); done
  [ ${#pids[@]} -eq 0 ] || wait "${pids[@]}"
  DC=() PF=()
}

# session NS PROTO HOST PORT [mailclient options]: one dialogue; sets LAST (its summary line),
# LAST_PORT (client port) and LAST_INSTANCE (dc1/dc2/pf1/pf2, from the greeting), and marks
# where every server log stood before it (MARK), so checks read only what this session logged:
# the kernel reuses client ports, so an older line could otherwise match.
session() {
  local ns=$1 p
  shift
  for p in "${!LOG_OF[@]}"; do MARK[$p]=$(e2e_size "${LOG_OF[$p]}"); done
  LAST=$(ip netns exec "$ns" timeout 30 python3 "$MAIL_CLIENT" "$@" --timeout "${SESSION_TIMEOUT:-5}" 2>&1)
  local rc=$?
  LAST_PORT=$(sed -n 's/.* local=[0-9.]*:\([0-9]*\)[ :].*/\1/p' <<<"$LAST" | head -n 1)
  LAST_INSTANCE=$(grep -oE '(dovecot|postfix)-(dc|pf)[0-9]' <<<"$LAST" | head -n 1 | sed 's/.*-//')
  echo "$LAST"
  return $rc
}

# via_vip PROTO PORT [options]: a session from the client namespace to the VIP, as a check.
via_vip() {
  local proto=$1 port=$2
  shift 2
  e2e_check "$proto via $VIP:$port: every reply as expected" session "$NS_CLI" "$proto" "$VIP" "$port" "$@" &&
    [ -n "$LAST_INSTANCE" ] && e2e_log "     $LAST"
}

# logged_since INSTANCE: what the instance logged since its mark (MARK, see session()).
logged_since() {
  tail -c +"$((${MARK[$1]} + 1))" "${LOG_OF[$1]}"
}

# logged INSTANCE PATTERN: the instance logged a line matching PATTERN since the last session.
logged() {
  e2e_wait_grep 3 "$2" "${LOG_OF[$1]}" "${MARK[$1]}"
}

# dovecot_login_logged INSTANCE SERVICE RIP RPORT LIP LPORT: the login line, as the PROXY
# header told it: rip/rport the client, lip/lport the address the client connected to.
dovecot_login_logged() {
  local dc=$1 service=$2 rip=$3 rport=$4 lip=$5 lport=$6
  logged "$dc" "$service: Info: Login: user=<alice>, method=PLAIN, rip=${rip//./\\.}, rport=$rport, lip=${lip//./\\.}, lport=$lport$"
}

maildir_has() {
  local dir=$1 subject=$2
  grep -rqs "^Subject: $subject" "$dir"
}

# imap_round_robin N: N IMAP logins in a row through the VIP must alternate between the
# Dovecot instances, each login logged by the instance that served it.
imap_round_robin() {
  local n=$1 i rr_ok=1
  rr_seq=()
  for ((i = 1; i <= n; i++)); do
    if ! session "$NS_CLI" imap "$VIP" 143 >/dev/null || [ -z "$LAST_INSTANCE" ]; then
      e2e_fail "round robin: imap session $i: $LAST"
      return
    fi
    rr_seq+=("$LAST_INSTANCE")
    dovecot_login_logged "$LAST_INSTANCE" imap-login "$CLIENT_ADDR" "$LAST_PORT" "$VIP" 143 >/dev/null || {
      e2e_fail "round robin: session $i (port $LAST_PORT) not logged by $LAST_INSTANCE"
      rr_ok=0
    }
  done
  [ "$rr_ok" -eq 0 ] || e2e_check "round robin: $n IMAP logins went ${rr_seq[*]}" rr_alternates
}

rr_alternates() {
  local i
  for ((i = 1; i < ${#rr_seq[@]}; i++)); do
    [ "${rr_seq[i]}" != "${rr_seq[i - 1]}" ] || { echo "sequence ${rr_seq[*]}"; return 1; }
  done
}

# dovecot_sessions RUN_DIR: an IMAP, POP3 and ManageSieve login and an LMTP delivery through
# the VIP, each checked in the log of the Dovecot instance that served it (rip/rport, or
# LMTP's "Connect from") and the delivery in alice's maildir under RUN_DIR/INSTANCE.
dovecot_sessions() {
  local run=$1 proto port service
  for proto in imap:143:imap-login pop3:110:pop3-login sieve:4190:managesieve-login; do
    IFS=: read -r proto port service <<<"$proto"
    via_vip "$proto" "$port"
    if [ -n "$LAST_INSTANCE" ]; then
      e2e_check "$proto: $LAST_INSTANCE logs rip=$CLIENT_ADDR rport=$LAST_PORT lip=$VIP lport=$port" \
        dovecot_login_logged "$LAST_INSTANCE" "$service" "$CLIENT_ADDR" "$LAST_PORT" "$VIP" "$port"
    fi
  done
  via_vip lmtp 24
  if [ -n "$LAST_INSTANCE" ]; then
    e2e_check "lmtp: $LAST_INSTANCE logs Connect from $CLIENT_ADDR" \
      logged "$LAST_INSTANCE" "lmtp\([0-9]+\): Info: Connect from ${CLIENT_ADDR//./\\.}$"
    e2e_check "lmtp: $LAST_INSTANCE saved the mail in alice's maildir" \
      e2e_wait 3 maildir_has "$run/$LAST_INSTANCE/home/alice/Maildir" "postern lab lmtp"
  fi
}

# maildir_add INSTANCE FILE: FILE becomes a new message in alice's INBOX on INSTANCE (dc1/dc2),
# owned by the mail uid (nobody) as a delivery would leave it; Dovecot finds it at the next
# SELECT. Store it with CRLF line ends and IMAP's BODY[] returns it byte for byte.
maildir_add() {
  local maildir=$LAB_RUN_DIR/$1/home/alice/Maildir
  mkdir -p "$maildir/cur" "$maildir/new" "$maildir/tmp" || return 1
  cp "$2" "$maildir/new/$(date +%s).M${RANDOM}P$$.postern-lab" || return 1
  chown -R nobody:nogroup "$maildir"
}
