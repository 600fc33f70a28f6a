# cluster.sh: a local Redis Cluster for the CLI tests (sourced after lib.sh).
#
#   start_cluster NPRIMARIES NREPLICAS   starts NPRIMARIES * (1 + NREPLICAS) redis-server nodes
#       with --cluster-enabled yes on free 127.0.0.1 ports (each with its bus port + 10000 free),
#       in a directory under $TMP; joins them with `redis-cli --cluster create ...
#       --cluster-replicas NREPLICAS --cluster-yes` (3 primaries or more; with 1 or 2 primaries,
#       which redis-cli refuses, with CLUSTER ADDSLOTSRANGE / MEET / REPLICATE and the same
#       even slot split); waits until every node reports cluster_state:ok with all 16384 slots
#       and every node known, and every replica's link to its primary is up. Then exports
#         CLUSTER_PORTS  array of ports, the primaries first, in slot order (the primary
#                        serving slot 0 first), then the replicas
#         CLUSTER_IDS    array of node ids, aligned with CLUSTER_PORTS
#         CLUSTER_SEED   "127.0.0.1:PORT" of the first primary
#         CLUSTER_DIR    the nodes' directory (logs: node-PORT.log)
#       Returns 1 with a message on stderr naming the node and what did not happen (each wait
#       is bounded by CLUSTER_TIMEOUT seconds, default 30). Every node started is killed at
#       exit (cleanup chain: cleanup_cluster, then lib.sh's cleanup_x).
#   stop_cluster                          kills the nodes now (also run at exit)
#   cluster_primary_of_slot SLOT          the port of the primary serving SLOT
CLUSTER_PIDS=""
CLUSTER_PORTS=()
CLUSTER_IDS=()
CLUSTER_SEED=""
CLUSTER_DIR=""
: "${CLUSTER_TIMEOUT:=30}"

stop_cluster() {
    local p
    for p in $CLUSTER_PIDS; do kill -9 "$p" 2>/dev/null; done
    for p in $CLUSTER_PIDS; do wait "$p" 2>/dev/null; done
    CLUSTER_PIDS=""
}
cleanup_cluster() {
    stop_cluster
    cleanup_x
}
trap cleanup_cluster EXIT

# _cl_port_free PORT: 0 when nothing answers on PORT nor on its bus port
_cl_port_free() {
    local p
    for p in "$1" $(($1 + 10000)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then return 1; fi
    done
    return 0
}

# _cl_start_node PORT: starts one cluster node; 0 once it answers PING within 5 s
_cl_start_node() {
    local port=$1 pid
    redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
        --cluster-config-file "$CLUSTER_DIR/nodes-$port.conf" \
        --cluster-node-timeout "${CLUSTER_NODE_TIMEOUT:-5000}" --enable-debug-command local \
        --save '' --appendonly no --dir "$CLUSTER_DIR" --logfile "$CLUSTER_DIR/node-$port.log" &
    pid=$!
    for _ in $(seq 1 50); do
        if timeout 5 redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
            # this node, not another test's server that took the port first
            if [ "$(timeout 5 redis-cli -h 127.0.0.1 -p "$port" INFO server | tr -d '\r' |
                    awk -F: '/^process_id:/ {print $2}')" != "$pid" ]; then
                break
            fi
            CLUSTER_PIDS="$CLUSTER_PIDS $pid"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    return 1
}

# _cl_wait DESCRIPTION COMMAND...: runs COMMAND every 0.2 s until it succeeds, at most
# CLUSTER_TIMEOUT seconds; prints DESCRIPTION on failure
_cl_wait() {
    local what=$1 deadline=$((SECONDS + CLUSTER_TIMEOUT))
    shift
    while ! "$@"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "start_cluster: timed out after ${CLUSTER_TIMEOUT}s waiting for $what" >&2
            return 1
        fi
        sleep 0.2
    done
}

_cl_info() { timeout 5 redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | tr -d '\r'; }

# _cl_node_ok PORT TOTAL: the node sees a healthy cluster of TOTAL nodes with every slot served
_cl_node_ok() {
    local info
    info=$(_cl_info "$1")
    grep -qx 'cluster_state:ok' <<< "$info" && grep -qx 'cluster_slots_ok:16384' <<< "$info" &&
        grep -qx "cluster_known_nodes:$2" <<< "$info"
}

# _cl_replica_up PORT: the node is a replica whose link to its primary is up
_cl_replica_up() {
    local info
    info=$(timeout 5 redis-cli -h 127.0.0.1 -p "$1" info replication 2>/dev/null | tr -d '\r')
    grep -qx 'role:slave' <<< "$info" && grep -qx 'master_link_status:up' <<< "$info"
}

_cl_all_ok() {
    local p
    for p in "${_CL_ALL[@]}"; do _cl_node_ok "$p" "${#_CL_ALL[@]}" || return 1; done
}

# _cl_manual_create NPRIMARIES NREPLICAS: what redis-cli --cluster create does, for clusters
# it refuses (fewer than 3 primaries): the same slot split, then MEET and REPLICATE
_cl_manual_create() {
    local np=$1 nr=$2 i j first last p id
    first=0
    for ((i = 0; i < np; i++)); do
        p=${_CL_ALL[$i]}
        if [ "$i" -eq $((np - 1)) ]; then last=16383; else last=$(((i + 1) * 16384 / np - 1)); fi
        if ! timeout 5 redis-cli -h 127.0.0.1 -p "$p" cluster addslotsrange "$first" "$last" |
            grep -q OK; then
            echo "start_cluster: CLUSTER ADDSLOTSRANGE $first $last failed on 127.0.0.1:$p" >&2
            return 1
        fi
        first=$((last + 1))
    done
    for p in "${_CL_ALL[@]:1}"; do
        timeout 5 redis-cli -h 127.0.0.1 -p "$p" cluster meet 127.0.0.1 "${_CL_ALL[0]}" > /dev/null
    done
    _cl_wait "every node to know the others" _cl_known_all || return 1
    for ((i = 0; i < np; i++)); do
        id=$(timeout 5 redis-cli -h 127.0.0.1 -p "${_CL_ALL[$i]}" cluster myid | tr -d '\r')
        for ((j = 0; j < nr; j++)); do
            p=${_CL_ALL[$((np + i * nr + j))]}
            _cl_wait "127.0.0.1:$p to accept CLUSTER REPLICATE $id" \
                _cl_replicate "$p" "$id" || return 1
        done
    done
}
_cl_known_all() {
    local p
    for p in "${_CL_ALL[@]}"; do
        _cl_info "$p" | grep -qx "cluster_known_nodes:${#_CL_ALL[@]}" || return 1
    done
}
_cl_replicate() { timeout 5 redis-cli -h 127.0.0.1 -p "$1" cluster replicate "$2" 2>/dev/null | grep -q OK; }

# _cl_roles NPRIMARIES NREPLICAS_TOTAL: 0 when the first node's CLUSTER NODES shows that many
# primaries, each serving slots, and replicas; fills _CL_PRIM ("firstslot port id") and
# _CL_REPL ("port id")
_cl_roles() {
    local want_p=$1 want_r=$2 nodes line p
    _CL_PRIM=()
    _CL_REPL=()
    nodes=$(timeout 5 redis-cli -h 127.0.0.1 -p "${_CL_ALL[0]}" cluster nodes 2>/dev/null |
        tr -d '\r')
    while read -r line; do
        # id addr flags master ping pong epoch link slots...
        set -- $line
        [ $# -ge 8 ] || continue
        p=${2%%@*}
        p=${p##*:}
        case $3 in
        *master*) [ $# -ge 9 ] && _CL_PRIM+=("${9%%-*} $p $1") ;;
        *slave*) _CL_REPL+=("$p $1") ;;
        esac
    done <<< "$nodes"
    [ "${#_CL_PRIM[@]}" -eq "$want_p" ] && [ "${#_CL_REPL[@]}" -eq "$want_r" ]
}

start_cluster() {
    local np=${1:?start_cluster NPRIMARIES NREPLICAS} nr=${2:-0} total port p tries line
    if [ "$np" -lt 1 ] || [ "$nr" -lt 0 ]; then
        echo "start_cluster: bad sizes $np primaries, $nr replicas" >&2
        return 1
    fi
    total=$((np * (1 + nr)))
    CLUSTER_DIR=$(mktemp -d "$TMP/cluster.XXXXXX")
    _CL_ALL=()
    tries=0
    while [ "${#_CL_ALL[@]}" -lt "$total" ]; do
        tries=$((tries + 1))
        if [ "$tries" -gt $((total * 10 + 20)) ]; then
            echo "start_cluster: could not start $total cluster nodes (see $CLUSTER_DIR)" >&2
            return 1
        fi
        port=$((20000 + RANDOM % 30000)) # the bus port (+10000) stays below 60000
        _cl_port_free "$port" || continue
        _cl_start_node "$port" && _CL_ALL+=("$port")
    done
    if [ "$np" -ge 3 ]; then
        local addrs=()
        for p in "${_CL_ALL[@]}"; do addrs+=("127.0.0.1:$p"); done
        if ! timeout 60 redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$nr" \
            --cluster-yes > "$CLUSTER_DIR/create.out" 2>&1; then
            echo "start_cluster: redis-cli --cluster create failed:" >&2
            tail -20 "$CLUSTER_DIR/create.out" >&2
            return 1
        fi
    else
        _cl_manual_create "$np" "$nr" || return 1
    fi
    for p in "${_CL_ALL[@]}"; do
        _cl_wait "cluster_state:ok, 16384 slots and $total nodes on 127.0.0.1:$p" \
            _cl_node_ok "$p" "$total" || return 1
    done
    # the roles as the cluster sees them: primaries in slot order, then replicas
    if ! _cl_wait "CLUSTER NODES to show $np primaries with slots and $((np * nr)) replicas" \
        _cl_roles "$np" "$((np * nr))"; then
        timeout 5 redis-cli -h 127.0.0.1 -p "${_CL_ALL[0]}" cluster nodes >&2
        return 1
    fi
    CLUSTER_PORTS=()
    CLUSTER_IDS=()
    while read -r _ p line; do
        CLUSTER_PORTS+=("$p")
        CLUSTER_IDS+=("$line")
    done < <(printf '%s\n' "${_CL_PRIM[@]}" | sort -n)
    for line in "${_CL_REPL[@]}"; do
        set -- $line
        CLUSTER_PORTS+=("$1")
        CLUSTER_IDS+=("$2")
        _cl_wait "replica 127.0.0.1:$1 to be linked to its primary" _cl_replica_up "$1" || return 1
    done
    # every node, replicas included, agrees once more (a replica attaching changes nothing)
    _cl_wait "every node to agree on the cluster" _cl_all_ok || return 1
    CLUSTER_SEED=127.0.0.1:${CLUSTER_PORTS[0]}
    export CLUSTER_SEED CLUSTER_DIR
    return 0
}

cluster_primary_of_slot() {
    timeout 5 redis-cli -h 127.0.0.1 -p "${CLUSTER_PORTS[0]}" cluster nodes | tr -d '\r' |
        awk -v s="$1" '$3 ~ /master/ {
            split($2, a, "@"); n = split(a[1], b, ":")
            for (i = 9; i <= NF; i++) {
                if ($i ~ /^\[/) continue
                m = split($i, r, "-"); lo = r[1] + 0; hi = (m > 1 ? r[2] : r[1]) + 0
                if (s + 0 >= lo && s + 0 <= hi) { print b[n]; exit }
            }
        }'
}
