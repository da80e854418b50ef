package firewall

import (
	"container/list"
	"strings"
	"sync"
)

// maxCachedText bounds the size of a cached text, so a full cache holds at
// most CacheSize × 8 KiB of SQL.
const maxCachedText = 8 << 10

// verdictCache is a bounded LRU of verdicts keyed by SQL text. A nil
// *verdictCache is a disabled cache.
type verdictCache struct {
	size int

	mu    sync.Mutex               // guards order and items
	order *list.List               // front is most recently used; values are *cacheEntry
	items map[string]*list.Element // text → element in order
}

type cacheEntry struct {
	sql string
	v   Verdict
}

func newVerdictCache(size int) *verdictCache {
	return &verdictCache{size: size, order: list.New(), items: make(map[string]*list.Element, size)}
}

func (c *verdictCache) get(sql string) (Verdict, bool) {
	if c == nil {
		return Verdict{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[sql]
	if !ok {
		return Verdict{}, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cacheEntry).v, true
}

func (c *verdictCache) put(sql string, v Verdict) {
	if c == nil || len(sql) > maxCachedText {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[sql]; ok {
		e.Value.(*cacheEntry).v = v
		c.order.MoveToFront(e)
		return
	}
	// Clone: the caller's text may alias a reused read buffer.
	sql = strings.Clone(sql)
	c.items[sql] = c.order.PushFront(&cacheEntry{sql: sql, v: v})
	for c.order.Len() > c.size {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.items, old.Value.(*cacheEntry).sql)
	}
}

func (c *verdictCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
