package httpapi

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/waitroom/waitroom/pkg/entrytoken"
)

// selfVerifier builds the Verifier of the Signer's own tokens once.
type selfVerifier struct {
	once sync.Once
	v    *entrytoken.Verifier
	err  error
}

func (s *selfVerifier) get(signer *entrytoken.Signer) (*entrytoken.Verifier, error) {
	s.once.Do(func() {
		if signer == nil {
			s.err = fmt.Errorf("%w: this server signs no entry tokens", entrytoken.ErrInvalidToken)
			return
		}
		s.v, s.err = signer.Verifier()
	})
	return s.v, s.err
}

// arrive serves POST /api/rooms/{room}/arrive: a site that verifies entry
// tokens itself says the visitor arrived, so arrive_within_s does not end
// the admission (docs/API.md, Arrival and no-shows).
func (w *Waitroom) arrive(c echo.Context) error {
	// It names an admission: limited like the status reads that name a ticket.
	room, err := limitedRoom(c, w.StatusLimit)
	if err != nil {
		return err
	}
	if err := readNoBody(c); err != nil {
		return err
	}
	token, err := entrytoken.BearerToken(c.Request().Header.Get(echo.HeaderAuthorization))
	if err != nil {
		return err
	}
	v, err := w.arrivals.get(w.Signer)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	claims, err := v.Verify(ctx, token, room)
	if err != nil {
		return err
	}
	live, err := w.Store.Arrive(ctx, room, claims.ID)
	if err != nil {
		return err
	}
	if live.Subject() != claims.Subject {
		return fmt.Errorf("%w: sub does not match the admission of its jti", entrytoken.ErrInvalidToken)
	}
	return c.NoContent(http.StatusNoContent)
}
