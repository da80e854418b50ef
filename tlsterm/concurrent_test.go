package tlsterm

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pgshield/pgshield/devcerts"
)

// TestConcurrentHandshakesDuringReload runs handshakes while Reload and the
// on-disk certificate check swap state, for the race detector.
func TestConcurrentHandshakesDuringReload(t *testing.T) {
	checkGoroutines(t)
	p := newPKI(t)
	term := p.terminator(nil)
	alice, _ := p.client(p.ca, devcerts.ClientOptions{CommonName: "alice"})

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				if err := term.Reload(); err != nil {
					t.Errorf("reload: %v", err)
				}
			} else {
				p.clock.Advance(2 * time.Second)
				later := time.Now().Add(time.Duration(i) * time.Minute)
				_ = os.Chtimes(p.cfg.CertFile, later, later)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var clients sync.WaitGroup
	for range 4 {
		clients.Add(1)
		go func() {
			defer clients.Done()
			for range 5 {
				res, err := connect(t, term, p.clientConfig(alice), false)
				if res.err != nil || err != nil {
					t.Errorf("handshake: %v / %v", res.err, err)
				}
			}
		}()
	}
	clients.Wait()
	close(stop)
	wg.Wait()
}
