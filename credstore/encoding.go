package credstore

import (
	"encoding/json"
	"time"
)

// fileState is the JSON plaintext of the store file. It is separate from
// State so that the password field exists only inside this package: nobody
// can json.Marshal a State or Credential into a log and leak a password.
type fileState struct {
	Version     int64            `json:"version"`
	UpdatedAt   time.Time        `json:"updated_at,omitzero"`
	Rotation    *Rotation        `json:"rotation,omitempty"`
	Credentials []fileCredential `json:"credentials"`
}

type fileCredential struct {
	Login       string    `json:"login"`
	Version     int       `json:"version"`
	Password    string    `json:"password,omitempty"`
	State       CredState `json:"state"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	ActivatedAt time.Time `json:"activated_at,omitzero"`
	RetiringAt  time.Time `json:"retiring_at,omitzero"`
	ExpiredAt   time.Time `json:"expired_at,omitzero"`
}

func marshalState(s State) ([]byte, error) {
	fs := fileState{Version: s.Version, UpdatedAt: s.UpdatedAt, Rotation: s.Rotation,
		Credentials: make([]fileCredential, len(s.Credentials))}
	for i, c := range s.Credentials {
		fs.Credentials[i] = fileCredential{Login: c.Login, Version: c.Version, Password: c.Password(), State: c.State,
			CreatedAt: c.CreatedAt, ActivatedAt: c.ActivatedAt, RetiringAt: c.RetiringAt, ExpiredAt: c.ExpiredAt}
	}
	return json.Marshal(fs)
}

// unmarshalState decodes the plaintext. Its error never quotes the input;
// json's syntax errors carry only an offset, and type errors name fields.
func unmarshalState(data []byte) (State, error) {
	var fs fileState
	if err := json.Unmarshal(data, &fs); err != nil {
		return State{}, err
	}
	s := State{Version: fs.Version, UpdatedAt: fs.UpdatedAt, Rotation: fs.Rotation,
		Credentials: make([]Credential, len(fs.Credentials))}
	for i, c := range fs.Credentials {
		s.Credentials[i] = Credential{Login: c.Login, Version: c.Version, State: c.State,
			CreatedAt: c.CreatedAt, ActivatedAt: c.ActivatedAt, RetiringAt: c.RetiringAt, ExpiredAt: c.ExpiredAt}
		if c.Password != "" {
			pw := c.Password
			s.Credentials[i].password = &pw
		}
	}
	return s, nil
}
