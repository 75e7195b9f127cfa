# Sourced by the client hooks (the lab copies it next to them): prints one lab event line on
# stdout, `{"event":"NAME","k":"v",...}` (src/net/src/events.rs). Values keep only the characters
# an address, a number or an interface name can hold, so the line is always valid JSON.
bootlab_event() {
  _name=$1; shift
  _line="{\"event\":\"$_name\""
  while [ $# -ge 2 ]; do
    _v=$(printf '%s' "$2" | tr -cd '0-9A-Za-z.:_/-')
    [ -n "$_v" ] && _line="$_line,\"$1\":\"$_v\""
    shift 2
  done
  printf '%s}\n' "$_line"
}

# Dotted netmask -> prefix length.
bootlab_prefix() {
  _n=0
  for _o in $(printf '%s' "$1" | tr '.' ' '); do
    case $_o in
      255) _n=$((_n + 8)) ;; 254) _n=$((_n + 7)) ;; 252) _n=$((_n + 6)) ;; 248) _n=$((_n + 5)) ;;
      240) _n=$((_n + 4)) ;; 224) _n=$((_n + 3)) ;; 192) _n=$((_n + 2)) ;; 128) _n=$((_n + 1)) ;;
    esac
  done
  echo "$_n"
}
