//! Word lists the `demo` source draws from; they are compiled into the binary.
//!
//! In templates, `{n}` is replaced by a number, `{k}` by a small one (1–16),
//! `{port}` by a port, `{id}` by a short hex id, `{user}` by a user name and `{ip}` by an address.

/// First octets of plausible public IPv4 addresses.
pub const IP_FIRST_OCTETS: &[u8] = &[
    3, 5, 13, 18, 23, 31, 34, 35, 37, 44, 45, 50, 52, 54, 62, 66, 69, 72, 77, 78, 81, 82, 85, 88,
    91, 93, 95, 98, 104, 107, 109, 128, 134, 138, 141, 146, 151, 157, 162, 165, 172, 176, 178, 185,
    188, 193, 194, 195, 198, 203, 207, 209, 212, 213, 216, 217,
];

pub const USERS: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "oscar", "peggy", "trent", "victor", "walter", "deploy", "ubuntu", "admin", "backup",
];

pub const HOSTS: &[&str] = &[
    "web-01",
    "web-02",
    "web-03",
    "api-01",
    "api-02",
    "db-01",
    "db-02",
    "cache-01",
    "worker-01",
    "worker-02",
    "lb-01",
    "bastion",
];

/// (method, weight)
pub const METHODS: &[(&str, u32)] = &[
    ("GET", 80),
    ("POST", 12),
    ("PUT", 3),
    ("DELETE", 2),
    ("HEAD", 2),
    ("PATCH", 1),
];

pub const PATHS: &[&str] = &[
    "/",
    "/index.html",
    "/about",
    "/login",
    "/logout",
    "/cart",
    "/checkout",
    "/search?q=wireless+headphones",
    "/search?q=usb-c+cable&page={n}",
    "/products/{n}",
    "/products/{n}/reviews",
    "/category/electronics?sort=price_asc",
    "/api/v1/products/{n}",
    "/api/v1/orders/{n}",
    "/api/v1/users/{n}/profile",
    "/api/v1/cart/items",
    "/api/v2/recommendations?user={n}",
    "/static/css/main.{id}.css",
    "/static/js/app.{id}.js",
    "/static/js/vendor.{id}.js",
    "/static/img/logo.svg",
    "/images/products/{n}.jpg",
    "/favicon.ico",
    "/robots.txt",
    "/sitemap.xml",
    "/healthz",
    "/wp-login.php",
    "/.env",
];

/// (status, weight): mostly 200, some redirects, client and server errors.
pub const STATUSES: &[(u16, u32)] = &[
    (200, 780),
    (201, 20),
    (204, 15),
    (301, 15),
    (302, 25),
    (304, 50),
    (400, 10),
    (401, 12),
    (403, 8),
    (404, 40),
    (429, 5),
    (500, 8),
    (502, 5),
    (503, 5),
    (504, 2),
];

pub const REFERRERS: &[&str] = &[
    "https://www.google.com/",
    "https://www.bing.com/search?q=acme+shop",
    "https://duckduckgo.com/",
    "https://shop.acme.example/",
    "https://shop.acme.example/cart",
    "https://shop.acme.example/category/electronics",
    "https://t.co/x7Qz2Lm",
    "https://news.ycombinator.com/",
];

pub const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "kube-probe/1.29",
];

/// (program, has a pid, facility, severity, message templates)
pub const SYSLOG_PROGRAMS: &[(&str, bool, u8, u8, &[&str])] = &[
    (
        "sshd",
        true,
        10,
        6,
        &[
            "Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 SHA256:{id}",
            "Failed password for invalid user {user} from {ip} port {port} ssh2",
            "Failed password for {user} from {ip} port {port} ssh2",
            "pam_unix(sshd:session): session opened for user {user}(uid={n}) by (uid=0)",
            "pam_unix(sshd:session): session closed for user {user}",
            "Received disconnect from {ip} port {port}:11: disconnected by user",
            "Connection closed by authenticating user root {ip} port {port} [preauth]",
            "Invalid user {user} from {ip} port {port}",
        ],
    ),
    (
        "CRON",
        true,
        9,
        6,
        &[
            "({user}) CMD (/usr/local/bin/backup.sh --incremental)",
            "(root) CMD (   cd / && run-parts --report /etc/cron.hourly)",
            "(root) CMD (test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily ))",
            "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
            "pam_unix(cron:session): session closed for user root",
        ],
    ),
    (
        "kernel",
        false,
        0,
        4,
        &[
            "[UFW BLOCK] IN=eth0 OUT= MAC=02:42:ac:11:00:02 SRC={ip} DST=10.0.0.{n} LEN=44 TOS=0x00 PREC=0x00 TTL=243 ID={n} PROTO=TCP SPT={port} DPT=22 WINDOW=1024 RES=0x00 SYN URGP=0",
            "Out of memory: Killed process {n} (java) total-vm:8123456kB, anon-rss:4123456kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:9876kB oom_score_adj:0",
            "EXT4-fs (sda1): re-mounted. Opts: errors=remount-ro",
            "nf_conntrack: nf_conntrack: table full, dropping packet",
            "TCP: request_sock_TCP: Possible SYN flooding on port 443. Sending cookies.",
            "eth0: Link is Up - 10Gbps/Full - flow control rx/tx",
        ],
    ),
    (
        "systemd",
        true,
        3,
        6,
        &[
            "Started Session {n} of User {user}.",
            "Starting Daily apt download activities...",
            "Finished Daily apt download activities.",
            "nginx.service: Main process exited, code=exited, status=1/FAILURE",
            "nginx.service: Failed with result 'exit-code'.",
            "Started Rotate log files.",
            "Reloading The nginx HTTP and reverse proxy server...",
            "docker.service: Scheduled restart job, restart counter is at {k}.",
        ],
    ),
    (
        "sudo",
        false,
        10,
        5,
        &[
            "{user} : TTY=pts/{k} ; PWD=/home/{user} ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx",
            "{user} : TTY=pts/{k} ; PWD=/home/{user} ; USER=root ; COMMAND=/usr/bin/apt-get update",
            "{user} : TTY=pts/{k} ; PWD=/var/log ; USER=root ; COMMAND=/usr/bin/tail -f syslog",
            "pam_unix(sudo:session): session opened for user root(uid=0) by {user}(uid={n})",
            "{user} : 3 incorrect password attempts ; TTY=pts/{k} ; PWD=/home/{user} ; USER=root ; COMMAND=/bin/bash",
        ],
    ),
];

/// (level, weight)
pub const LEVELS: &[(&str, u32)] = &[("INFO", 70), ("DEBUG", 15), ("WARN", 10), ("ERROR", 5)];

/// (service, messages by level: INFO, DEBUG, WARN, ERROR)
pub const SERVICES: &[(&str, [&[&str]; 4])] = &[
    (
        "checkout",
        [
            &[
                "order {n} placed",
                "payment authorized for order {n}",
                "cart {id} checked out",
            ],
            &[
                "applying {n} promotions to cart {id}",
                "tax computed for region EU-{n}",
            ],
            &[
                "inventory reservation slow for order {n}",
                "retrying payment call (attempt {k})",
            ],
            &[
                "order {n} failed: payment declined",
                "timeout calling payments after {n}ms",
            ],
        ],
    ),
    (
        "payments",
        [
            &[
                "charge {id} succeeded",
                "refund {id} issued",
                "3-D Secure challenge completed",
            ],
            &["provider response code {n}", "idempotency key {id} reused"],
            &[
                "provider latency above threshold: {n}ms",
                "card issuer soft decline",
            ],
            &[
                "charge {id} failed: provider unavailable",
                "webhook signature mismatch",
            ],
        ],
    ),
    (
        "auth",
        [
            &[
                "user logged in",
                "token refreshed",
                "password changed",
                "MFA enrolled",
            ],
            &["session {id} validated", "loaded {n} roles for user"],
            &["login failed: bad password", "token close to expiry"],
            &[
                "account locked after {k} failed attempts",
                "JWKS fetch failed",
            ],
        ],
    ),
    (
        "search",
        [
            &[
                "query served with {n} hits",
                "index segment merged",
                "suggestions returned",
            ],
            &["query rewritten", "cache hit for key {id}"],
            &["slow query: {n}ms", "shard {k} lagging behind"],
            &[
                "shard {k} unavailable",
                "query parse error near position {n}",
            ],
        ],
    ),
    (
        "inventory",
        [
            &[
                "stock updated for sku {n}",
                "reservation {id} confirmed",
                "restock received",
            ],
            &["reconciling warehouse {n}", "sku {n} read from cache"],
            &["low stock for sku {n}", "reservation {id} expired"],
            &[
                "negative stock for sku {n}",
                "deadlock detected, transaction rolled back",
            ],
        ],
    ),
];

pub const JAVA_THREADS: &[&str] = &[
    "main",
    "http-nio-8080-exec-{k}",
    "scheduling-1",
    "kafka-consumer-{k}",
    "ForkJoinPool.commonPool-worker-{k}",
];

/// (logger, class file stem, methods from the innermost call outwards)
pub const JAVA_CLASSES: &[(&str, &str, &[&str])] = &[
    (
        "com.acme.checkout.OrderService",
        "OrderService",
        &["reserveStock", "placeOrder", "submit"],
    ),
    (
        "com.acme.payments.PaymentClient",
        "PaymentClient",
        &["authorize", "charge", "process"],
    ),
    (
        "com.acme.auth.TokenValidator",
        "TokenValidator",
        &["parseClaims", "validate", "doFilterInternal"],
    ),
    (
        "com.acme.search.QueryExecutor",
        "QueryExecutor",
        &["rewrite", "execute", "search"],
    ),
    (
        "com.acme.inventory.StockRepository",
        "StockRepository",
        &["findBySku", "decrement", "reserve"],
    ),
];

pub const JAVA_INFO: &[&str] = &[
    "Started Application in {k}.412 seconds (process running for {k}.9)",
    "Processing request {id}",
    "Completed request {id} in {n} ms",
    "Cache warmed with {n} entries",
    "HikariPool-1 - Start completed.",
    "Consumer group rebalanced, {k} partitions assigned",
];

pub const JAVA_EXCEPTIONS: &[&str] = &[
    "java.lang.NullPointerException: Cannot invoke \"com.acme.model.Cart.getItems()\" because \"cart\" is null",
    "java.lang.IllegalStateException: Order {n} is already being processed",
    "java.lang.IllegalArgumentException: quantity must be positive but was -{n}",
    "java.util.concurrent.TimeoutException: Request timed out after 5000 ms",
    "org.springframework.dao.DataIntegrityViolationException: could not execute statement; constraint [orders_pkey]",
];

/// (cause, the frame it was thrown from)
pub const JAVA_CAUSES: &[(&str, &str)] = &[
    (
        "java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.",
        "com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)",
    ),
    (
        "java.net.SocketTimeoutException: Read timed out",
        "java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)",
    ),
    (
        "java.net.ConnectException: Connection refused",
        "java.base/sun.nio.ch.Net.pollConnect(Native Method)",
    ),
    (
        "com.fasterxml.jackson.core.JsonParseException: Unexpected character ('<' (code 60)): expected a valid value",
        "com.fasterxml.jackson.core.JsonParser._constructError(JsonParser.java:2477)",
    ),
];

/// Framework frames that sit under the application's own.
pub const JAVA_FRAMEWORK_FRAMES: &[&str] = &[
    "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:897)",
    "org.springframework.web.servlet.DispatcherServlet.doDispatch(DispatcherServlet.java:1089)",
    "org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:166)",
    "org.apache.tomcat.util.net.NioEndpoint$SocketProcessor.doRun(NioEndpoint.java:1791)",
    "java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1144)",
    "java.base/java.lang.Thread.run(Thread.java:1583)",
];
