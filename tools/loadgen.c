/* The cheap load of tools/bench_workers.py, in C: a replay upstream and a loader, each a process.
 *
 * On a 2-core machine the load must cost next to nothing, or it takes the second core from the second
 * relay worker; the same two parts in Python (asyncio) cost ~16% of the relay's CPU, which capped what two
 * workers could show at ~1.73x. Both parts do what the Python ones in bench_workers.py do (their docstrings
 * give the why), with one epoll loop each:
 *
 *   loadgen replay RECORDING   answer every relay connection from frames recorded from the emulator: the
 *                              101 and session.created, then one write of recorded frames per client
 *                              frame (conversation.item.create, response.create, session.update), the
 *                              item and response ids patched unique per turn; prints "ready URL", and on
 *                              SIGTERM one JSON line of what it received ({"turns": N, "seen": {...}}).
 *   loadgen load HOST PORT PATH START END CONNECTIONS TURNS
 *                              CONNECTIONS clients, conversations of TURNS turns one after the other (each
 *                              client's first opened before START, a CLOCK_MONOTONIC time in seconds, and
 *                              begun at START), turns counted between START and END; prints one JSON line
 *                              ({"turns": N, "reads": N, "errors": {...}}).
 *
 * Both wake once a phase, not once a frame: a socket's SO_RCVLOWAT is set to the bytes still to come (a
 * phase's size is learnt from the first conversation that goes through it); a connection that waits longer
 * than STALL_S with fewer bytes in goes back to waking at every segment, for good.
 *
 * The recording file, written by bench_workers.py: four blobs (created, updated, echo, turn), each as a
 * line "LENGTH\n" and its bytes, then for echo and turn a line "COUNT\n" and COUNT lines "OFFSET INDEX\n":
 * where a 20-hex-digit id starts in that blob and which id it is (written as %016x%04x of turn and index).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STALL_S 0.5
#define PEEK 48
#define MAX_EVENTS 256
#define MAX_KINDS 32

static void die(const char *what) {
    perror(what);
    exit(2);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* -- growable byte buffers -------------------------------------------------------------------------- */

typedef struct {
    unsigned char *data;
    size_t size, cap;
} Buf;

static void buf_reserve(Buf *b, size_t more) {
    if (b->size + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 16384;
    while (cap < b->size + more)
        cap *= 2;
    b->data = realloc(b->data, cap);
    if (!b->data)
        die("realloc");
    b->cap = cap;
}

static void buf_add(Buf *b, const void *data, size_t n) {
    buf_reserve(b, n);
    memcpy(b->data + b->size, data, n);
    b->size += n;
}

static void buf_consume(Buf *b, size_t n) {
    memmove(b->data, b->data + n, b->size - n);
    b->size -= n;
}

/* -- SHA-1 and base64, for Sec-WebSocket-Accept ---------------------------------------------------------- */

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1(const unsigned char *msg, size_t len, unsigned char out[20]) {
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    size_t total = ((len + 8) / 64 + 1) * 64;
    unsigned char *m = calloc(total, 1);
    if (!m)
        die("calloc");
    memcpy(m, msg, len);
    m[len] = 0x80;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        m[total - 1 - i] = (unsigned char)(bits >> (8 * i));
    for (size_t chunk = 0; chunk < total; chunk += 64) {
        uint32_t w[80];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)m[chunk + 4 * i] << 24 | (uint32_t)m[chunk + 4 * i + 1] << 16 |
                   (uint32_t)m[chunk + 4 * i + 2] << 8 | (uint32_t)m[chunk + 4 * i + 3];
        for (int i = 16; i < 80; i++)
            w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20)
                f = (b & c) | (~b & d), k = 0x5A827999;
            else if (i < 40)
                f = b ^ c ^ d, k = 0x6ED9EBA1;
            else if (i < 60)
                f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
            else
                f = b ^ c ^ d, k = 0xCA62C1D6;
            uint32_t t = rol(a, 5) + f + e + k + w[i];
            e = d, d = c, c = rol(b, 30), b = a, a = t;
        }
        h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
    }
    free(m);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (unsigned char)(h[i] >> (24 - 8 * j));
}

static size_t base64(const unsigned char *in, size_t n, char *out) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = i + 1 < n ? abc[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? abc[v & 63] : '=';
    }
    out[o] = 0;
    return o;
}

/* -- websocket frames (RFC 6455) ----------------------------------------------------------------------- */

enum { OP_TEXT = 1, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };

typedef struct {
    int opcode;
    size_t first, start, end; /* the frame's first byte, its payload */
    const unsigned char *mask; /* NULL: not masked */
} Frame;

/* The frame at buf[at:size]: 1 and *f when it is all in, else 0. */
static int next_frame(const unsigned char *buf, size_t at, size_t size, Frame *f) {
    if (size - at < 2)
        return 0;
    uint64_t n = buf[at + 1] & 0x7F;
    size_t head = at + 2;
    if (n == 126) {
        if (size - at < 4)
            return 0;
        n = (uint64_t)buf[at + 2] << 8 | buf[at + 3], head = at + 4;
    } else if (n == 127) {
        if (size - at < 10)
            return 0;
        n = 0;
        for (int i = 0; i < 8; i++)
            n = n << 8 | buf[at + 2 + i];
        head = at + 10;
    }
    int masked = buf[at + 1] & 0x80;
    size_t start = head + (masked ? 4 : 0);
    if (start > size || n > size - start)
        return 0;
    f->opcode = buf[at] & 0x0F, f->first = at, f->start = start, f->end = start + (size_t)n;
    f->mask = masked ? buf + head : NULL;
    return 1;
}

/* The payload's first `limit` bytes (0: all), unmasked, into out (NUL-terminated); their count. */
static size_t payload(const unsigned char *buf, const Frame *f, size_t limit, unsigned char *out) {
    size_t n = f->end - f->start;
    if (limit && n > limit)
        n = limit;
    for (size_t i = 0; i < n; i++)
        out[i] = f->mask ? buf[f->start + i] ^ f->mask[i % 4] : buf[f->start + i];
    out[n] = 0;
    return n;
}

/* A frame with `payload` (masked with `mask` when not NULL), appended to out. */
static void add_frame(Buf *out, int opcode, const unsigned char *data, size_t n, const unsigned char *mask) {
    unsigned char head[14];
    size_t h = 0;
    unsigned char bit = mask ? 0x80 : 0;
    head[h++] = (unsigned char)(0x80 | opcode);
    if (n < 126)
        head[h++] = (unsigned char)(bit | n);
    else if (n < 65536)
        head[h++] = bit | 126, head[h++] = (unsigned char)(n >> 8), head[h++] = (unsigned char)n;
    else {
        head[h++] = bit | 127;
        for (int i = 7; i >= 0; i--)
            head[h++] = (unsigned char)((uint64_t)n >> (8 * i));
    }
    if (mask)
        memcpy(head + h, mask, 4), h += 4;
    buf_add(out, head, h);
    buf_reserve(out, n);
    for (size_t i = 0; i < n; i++)
        out->data[out->size + i] = mask ? data[i] ^ mask[i % 4] : data[i];
    out->size += n;
}

/* -- sockets and the loop's shared parts ----------------------------------------------------------------- */

static int epfd;
static volatile sig_atomic_t stopping;

static void on_term(int sig) {
    (void)sig;
    stopping = 1;
}

typedef struct Conn Conn;
struct Conn {
    int fd;
    Buf in, out;
    int lowat, batching, open, want_out;
    double since;
    /* replay */
    size_t turn_bytes;
    /* load */
    int turns, limit, first, closing, begun, waiting;
    size_t got;
    Conn *next; /* the live list */
};

static Conn *live;

static void conn_add(Conn *c) {
    c->next = live;
    live = c;
}

static void conn_remove(Conn *c) {
    for (Conn **p = &live; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            return;
        }
}

static void set_nonblock(int fd) {
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
        die("fcntl");
}

/* Wake once `size` more bytes are in (1: at every segment). */
static void expect(Conn *c, long size) {
    int want = c->batching && size > 1 ? (int)size : 1;
    c->since = now();
    if (want != c->lowat) {
        c->lowat = want;
        setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof want);
    }
}

static int queued(Conn *c) {
    int n = 0;
    ioctl(c->fd, FIONREAD, &n);
    return n;
}

static long stalls;

static void watch(void) {
    double t = now();
    for (Conn *c = live; c; c = c->next)
        if (c->lowat > 1 && t - c->since > STALL_S && queued(c) > 0) {
            stalls++;
            c->batching = 0;
            expect(c, 1);
        }
}

static void arm(Conn *c) {
    struct epoll_event ev = {.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Write c->out (what the socket takes now; the rest once it is writable). 0 when the peer is gone. */
static int flush(Conn *c) {
    while (c->out.size) {
        ssize_t n = send(c->fd, c->out.data, c->out.size, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) {
                if (!c->want_out)
                    c->want_out = 1, arm(c);
                return 1;
            }
            return 0;
        }
        buf_consume(&c->out, (size_t)n);
    }
    if (c->want_out)
        c->want_out = 0, arm(c);
    return 1;
}

/* One epoll event of a connection: its pending output written, then what came read (`on_read`). 0 when the
 * connection is over. */
static int serve_ready(Conn *c, uint32_t events, int (*on_read)(Conn *)) {
    int ok = 1;
    if (events & EPOLLOUT)
        ok = flush(c);
    if (ok && events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        ok = on_read(c);
    return ok;
}

/* Read what is there into c->in: bytes read, 0 at EOF, -1 on EAGAIN (nothing), -2 on error. */
static long fill(Conn *c) {
    long total = 0;
    for (;;) {
        buf_reserve(&c->in, 16384);
        size_t room = c->in.cap - c->in.size;
        ssize_t n = recv(c->fd, c->in.data + c->in.size, room, 0);
        if (n > 0) {
            c->in.size += (size_t)n, total += n;
            if ((size_t)n < room)
                return total; /* a short read: the queue is empty */
            continue;
        }
        if (n == 0)
            return total ? total : 0;
        if (errno == EAGAIN)
            return total ? total : -1;
        return -2;
    }
}

/* -- tallies: a count per name, printed as a JSON object ----------------------------------------------- */

typedef struct {
    struct {
        char name[200];
        long n;
    } rows[MAX_KINDS];
    int size;
} Tally;

static void tally(Tally *t, const char *name) {
    for (int i = 0; i < t->size; i++)
        if (!strcmp(t->rows[i].name, name)) {
            t->rows[i].n++;
            return;
        }
    if (t->size < MAX_KINDS) {
        snprintf(t->rows[t->size].name, sizeof t->rows[t->size].name, "%s", name);
        t->rows[t->size++].n = 1;
    }
}

static void print_tally(const Tally *t) {
    putchar('{');
    for (int i = 0; i < t->size; i++) {
        printf("%s\"", i ? ", " : "");
        for (const char *p = t->rows[i].name; *p; p++)
            if (*p == '"' || *p == '\\')
                printf("\\%c", *p);
            else if ((unsigned char)*p >= 0x20)
                putchar(*p);
        printf("\": %ld", t->rows[i].n);
    }
    putchar('}');
}

static void conn_free(Conn *c) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    conn_remove(c);
    free(c->in.data);
    free(c->out.data);
    free(c);
}

/* -- the replay upstream ------------------------------------------------------------------------------- */

typedef struct {
    Buf blob;
    size_t count;
    size_t *offsets;
    unsigned *index;
} Blob;

static Blob created, updated, echo_, turn_;
static long replay_turns;
static size_t turn_size;
static Tally seen;

static void count(const char *kind) { tally(&seen, kind); }

static void read_blob(FILE *f, Blob *b, int patched) {
    size_t n;
    if (fscanf(f, "%zu", &n) != 1 || fgetc(f) != '\n')
        die("recording: a length");
    buf_reserve(&b->blob, n);
    if (fread(b->blob.data, 1, n, f) != n)
        die("recording: a blob");
    b->blob.size = n;
    if (!patched)
        return;
    if (fscanf(f, "%zu", &b->count) != 1)
        die("recording: a count");
    b->offsets = calloc(b->count + 1, sizeof *b->offsets);
    b->index = calloc(b->count + 1, sizeof *b->index);
    for (size_t i = 0; i < b->count; i++)
        if (fscanf(f, "%zu %u", &b->offsets[i], &b->index[i]) != 2 || b->offsets[i] + 20 > n)
            die("recording: an offset");
    fgetc(f);
}

static void add_patched(Buf *out, const Blob *b) {
    size_t at = out->size;
    buf_add(out, b->blob.data, b->blob.size);
    char digits[24];
    for (size_t i = 0; i < b->count; i++) {
        snprintf(digits, sizeof digits, "%016lx%04x", (unsigned long)replay_turns, b->index[i]);
        memcpy(out->data + at + b->offsets[i], digits, 20);
    }
}

/* Answer the upgrade request: its length, or 0 until it is all in (-1: not one). */
static long replay_handshake(Conn *c) {
    unsigned char *end = memmem(c->in.data, c->in.size, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t len = (size_t)(end - c->in.data) + 4;
    const char *key = NULL;
    size_t key_len = 0;
    for (unsigned char *line = c->in.data; line < end;) {
        unsigned char *eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        if (!eol)
            break;
        if (eol - line > 18 && !strncasecmp((char *)line, "sec-websocket-key:", 18)) {
            unsigned char *v = line + 18;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            key = (const char *)v, key_len = (size_t)(eol - v);
            while (key_len && (key[key_len - 1] == ' ' || key[key_len - 1] == '\t'))
                key_len--;
        }
        line = eol + 2;
    }
    if (!key || key_len > 64)
        return -1;
    char joined[128], accept[64];
    unsigned char digest[20];
    memcpy(joined, key, key_len);
    memcpy(joined + key_len, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
    sha1((unsigned char *)joined, key_len + 36, digest);
    base64(digest, 20, accept);
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    buf_add(&c->out, head, (size_t)n);
    buf_add(&c->out, created.blob.data, created.blob.size);
    c->open = 1;
    return (long)len;
}

/* The type of a text frame, into kind: read off its first bytes, else found in the whole payload. */
static void frame_kind(const unsigned char *buf, const Frame *f, char *kind, size_t room) {
    static unsigned char *whole;
    static size_t whole_cap;
    unsigned char peek[PEEK + 1];
    payload(buf, f, PEEK, peek);
    const char *p = NULL;
    if (!memcmp(peek, "{\"type\":\"", 9))
        p = (const char *)peek + 9;
    else {
        count("(decoded in full)"); /* not "type" first: counted, the relay puts it first */
        size_t n = f->end - f->start;
        if (whole_cap < n + 1)
            whole = realloc(whole, n + 1), whole_cap = n + 1;
        payload(buf, f, 0, whole);
        p = strstr((const char *)whole, "\"type\":\"");
        p = p ? p + 8 : "";
    }
    size_t i = 0;
    while (i + 1 < room && p[i] && p[i] != '"')
        kind[i] = p[i], i++;
    kind[i] = 0;
}

static int replay_read(Conn *c) {
    long got = fill(c);
    if (got == -1)
        return 1;
    if (got <= 0)
        return 0;
    count("(reads)");
    size_t at = 0;
    if (!c->open) {
        long used = replay_handshake(c);
        if (used < 0)
            return 0;
        if (used == 0)
            return 1;
        at = (size_t)used;
    }
    Frame f;
    unsigned char small[128];
    while (next_frame(c->in.data, at, c->in.size, &f)) {
        at = f.end;
        if (f.opcode == OP_CLOSE) {
            size_t n = payload(c->in.data, &f, 2, small);
            add_frame(&c->out, OP_CLOSE, small, n, NULL);
            flush(c);
            return 0;
        }
        if (f.opcode == OP_PING) {
            size_t n = payload(c->in.data, &f, 125, small);
            add_frame(&c->out, OP_PONG, small, n, NULL);
        } else if (f.opcode == OP_TEXT) {
            char kind[72];
            frame_kind(c->in.data, &f, kind, sizeof kind);
            count(kind);
            int create = !strcmp(kind, "conversation.item.create"), respond = !strcmp(kind, "response.create");
            if (create || respond)
                c->turn_bytes += f.end - f.first;
            if (create) {
                replay_turns++;
                add_patched(&c->out, &echo_);
            } else if (respond) {
                turn_size = turn_size ? turn_size : c->turn_bytes;
                c->turn_bytes = 0;
                add_patched(&c->out, &turn_);
            } else if (!strcmp(kind, "session.update"))
                buf_add(&c->out, updated.blob.data, updated.blob.size);
            if (respond)
                expect(c, (long)turn_size - (long)(c->in.size - f.end));
        }
    }
    buf_consume(&c->in, at);
    return flush(c);
}

static int replay(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path);
    read_blob(f, &created, 0);
    read_blob(f, &updated, 0);
    read_blob(f, &echo_, 1);
    read_blob(f, &turn_, 1);
    fclose(f);
    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 4096) < 0)
        die("listen");
    socklen_t alen = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &alen);
    set_nonblock(lfd);
    epfd = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);
    printf("ready ws://127.0.0.1:%d/v1/realtime\n", ntohs(addr.sin_port));
    fflush(stdout);
    struct epoll_event events[MAX_EVENTS];
    double watched = now();
    while (!stopping) {
        int n = epoll_wait(epfd, events, MAX_EVENTS, 250);
        for (int i = 0; i < n; i++) {
            Conn *c = events[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    c = calloc(1, sizeof *c);
                    c->fd = fd, c->lowat = 1, c->batching = 1;
                    conn_add(c);
                    count("(connections)");
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            if (!serve_ready(c, events[i].events, replay_read))
                conn_free(c);
        }
        if (now() - watched > STALL_S / 2)
            watch(), watched = now();
    }
    printf("{\"turns\": %ld, \"seen\": ", replay_turns);
    print_tally(&seen);
    printf("}\n");
    fflush(stdout);
    return 0;
}

/* -- the loader ----------------------------------------------------------------------------------------- */

enum { HANDSHAKE, OPENING, REPLY };

static struct sockaddr_in target;
static char request[512];
static size_t request_len;
static double start_at, end_at;
static long sizes[3], load_turns, reads;
static unsigned char turn_frames[512], close_frame[16];
static size_t turn_len, close_len;
static const unsigned char MASK[4] = {0x37, 0xfa, 0x21, 0x3d};
static Tally errors;

static void error_seen(const char *what) { tally(&errors, what); }

static long size_of(int phase) { return sizes[phase] ? sizes[phase] : 1; }

static Conn *open_client(int limit, int first) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    if (fd < 0)
        die("socket");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) {
        error_seen("connect failed");
        close(fd);
        return NULL;
    }
    Conn *c = calloc(1, sizeof *c);
    c->fd = fd, c->lowat = 1, c->batching = 1, c->limit = limit, c->first = first;
    conn_add(c);
    buf_add(&c->out, request, request_len);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    expect(c, size_of(HANDSHAKE));
    c->want_out = 1, arm(c); /* the request goes once the connection is up */
    return c;
}

static void phase_done(Conn *c, int phase, size_t leftover) {
    if (!sizes[phase])
        sizes[phase] = (long)(c->got - leftover);
    c->got = leftover;
}

static void send_close(Conn *c) {
    c->closing = 1;
    expect(c, 1); /* the close frame is shorter than a reply */
    buf_add(&c->out, close_frame, close_len);
}

static void begin(Conn *c) {
    c->begun = 1;
    if (now() >= end_at) {
        send_close(c);
        return;
    }
    expect(c, size_of(OPENING) - (long)c->got);
    buf_add(&c->out, turn_frames, turn_len);
}

static void answered(Conn *c, size_t leftover) {
    double t = now();
    c->turns++;
    load_turns += start_at <= t && t <= end_at;
    phase_done(c, c->turns == 1 ? OPENING : REPLY, leftover);
    if (t >= end_at || c->turns >= c->limit) {
        send_close(c);
        return;
    }
    expect(c, size_of(REPLY) - (long)c->got);
    buf_add(&c->out, turn_frames, turn_len);
}

/* 0: the connection is over. */
static int load_read(Conn *c) {
    long got = fill(c);
    if (got == -1)
        return 1;
    if (got <= 0)
        return 0;
    reads++;
    c->got += (size_t)got;
    size_t at = 0;
    if (!c->open) {
        unsigned char *end = memmem(c->in.data, c->in.size, "\r\n\r\n", 4);
        if (!end)
            return 1;
        if (c->in.size < 13 || memcmp(c->in.data, "HTTP/1.1 101 ", 13)) {
            unsigned char *eol = memmem(c->in.data, c->in.size, "\r\n", 2);
            char line[200];
            snprintf(line, sizeof line, "%.*s", (int)(eol - c->in.data), c->in.data);
            error_seen(line);
            return 0;
        }
        c->open = 1;
        at = (size_t)(end - c->in.data) + 4;
        phase_done(c, HANDSHAKE, c->in.size - at);
        if (!c->first || now() >= start_at)
            begin(c);
        else
            c->waiting = 1, expect(c, 1);
    }
    Frame f;
    unsigned char small[256];
    while (next_frame(c->in.data, at, c->in.size, &f)) {
        at = f.end;
        if (f.opcode == OP_TEXT) {
            size_t n = payload(c->in.data, &f, 24, small);
            if (n >= 23 && !memcmp(small, "{\"type\":\"response.done\"", 23))
                answered(c, c->in.size - f.end);
            else if (n >= 15 && !memcmp(small, "{\"type\":\"error\"", 15)) {
                payload(c->in.data, &f, 200, small);
                error_seen((char *)small);
            }
        } else if (f.opcode == OP_CLOSE)
            return 0;
        else if (f.opcode == OP_PING) {
            size_t n = payload(c->in.data, &f, 125, small);
            add_frame(&c->out, OP_PONG, small, n, MASK);
        }
    }
    buf_consume(&c->in, at);
    return flush(c);
}

static int load(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: loadgen load HOST PORT PATH START END CONNECTIONS TURNS\n");
        return 2;
    }
    const char *host = argv[2], *path = argv[4];
    int port = atoi(argv[3]), connections = atoi(argv[7]), per_conversation = atoi(argv[8]);
    start_at = atof(argv[5]), end_at = atof(argv[6]);
    target.sin_family = AF_INET, target.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &target.sin_addr) != 1)
        die("the host must be an IPv4 address");
    request_len = (size_t)snprintf(request, sizeof request,
                                   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: "
                                   "Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                   "Sec-WebSocket-Version: 13\r\n\r\n",
                                   path, host, port);
    const char *say = "{\"type\":\"conversation.item.create\",\"item\":{\"type\":\"message\",\"role\":\"user\","
                      "\"content\":[{\"type\":\"input_text\",\"text\":\"hi\"}]}}";
    const char *create = "{\"type\":\"response.create\"}";
    Buf built = {0};
    add_frame(&built, OP_TEXT, (const unsigned char *)say, strlen(say), MASK);
    add_frame(&built, OP_TEXT, (const unsigned char *)create, strlen(create), MASK);
    memcpy(turn_frames, built.data, built.size), turn_len = built.size;
    built.size = 0;
    unsigned char code[2] = {0x03, 0xE8};
    add_frame(&built, OP_CLOSE, code, 2, MASK);
    memcpy(close_frame, built.data, built.size), close_len = built.size;
    free(built.data);
    epfd = epoll_create1(0);
    struct epoll_event events[MAX_EVENTS];
    /* the probe: one conversation of two turns, before the others, so every phase's size is learnt */
    Conn *probe = open_client(2, 0);
    int probing = probe != NULL;
    while (probing) {
        int n = epoll_wait(epfd, events, MAX_EVENTS, 1000);
        if (n == 0) {
            error_seen("the probe got no answer within 1 s");
            break;
        }
        for (int i = 0; i < n; i++) {
            Conn *c = events[i].data.ptr;
            if (!serve_ready(c, events[i].events, load_read))
                conn_free(c), probing = 0;
        }
    }
    for (int i = 0; i < connections; i++)
        open_client(per_conversation, 1);
    double watched = now();
    while (live) {
        double t = now();
        int timeout = 250;
        if (t < start_at && (start_at - t) * 1000 < timeout)
            timeout = (int)((start_at - t) * 1000) + 1;
        int n = epoll_wait(epfd, events, MAX_EVENTS, timeout);
        t = now();
        if (t >= start_at) /* the window begins: every waiting client's first turn */
            for (Conn *c = live; c; c = c->next)
                if (c->waiting) {
                    c->waiting = 0;
                    begin(c);
                    if (!flush(c))
                        error_seen("a client went away before its first turn");
                }
        for (int i = 0; i < n; i++) {
            Conn *c = events[i].data.ptr;
            if (!serve_ready(c, events[i].events, load_read)) {
                int was_open = c->open;
                conn_free(c);
                if (now() < end_at) { /* the client's next conversation */
                    if (!was_open)
                        usleep(50000);
                    open_client(per_conversation, 0);
                }
            }
        }
        if (t - watched > STALL_S / 2) {
            watch(), watched = t;
            if (stalls) {
                char what[80];
                snprintf(what, sizeof what, "a reply shorter than learnt (stalled %g s)", STALL_S);
                for (long s = 0; s < stalls; s++)
                    error_seen(what);
                stalls = 0;
            }
        }
    }
    printf("{\"turns\": %ld, \"reads\": %ld, \"errors\": ", load_turns, reads);
    print_tally(&errors);
    printf("}\n");
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (argc == 3 && !strcmp(argv[1], "replay"))
        return replay(argv[2]);
    if (argc >= 2 && !strcmp(argv[1], "load"))
        return load(argc, argv);
    fprintf(stderr, "usage: loadgen replay RECORDING | loadgen load HOST PORT PATH START END CONNECTIONS TURNS\n");
    return 2;
}
